#!/usr/bin/env bash
# Runs a test command N times into one results run and prints each test's pass rate:
#   ./repeat.sh 5 cargo test -p ducttape-tests --test faults -- a_paused_leader
# Every run keeps its own directory (results/<run>/<test>, <test>-2, ...); the run report
# (report.json, report.html) has one row per test with its attempts, `pass_rate`, and status
# `flaky` when the runs disagreed and the last passed.
set -uo pipefail
n=${1:?usage: repeat.sh N command...}
shift
(($# > 0)) || { echo "usage: repeat.sh N command..." >&2; exit 2; }
export DUCTTAPE_RUN_ID=${DUCTTAPE_RUN_ID:-repeat-$(date -u +%Y-%m-%d--%H%M%S)-$$}
failed=0
for ((i = 1; i <= n; i++)); do
    echo "repeat.sh: run $i of $n" >&2
    "$@" || failed=$((failed + 1))
done
root=${DUCTTAPE_RESULTS_DIR:-results}
report="$root/$DUCTTAPE_RUN_ID/report.json"
echo "repeat.sh: $((n - failed)) of $n runs passed; per test ($report):" >&2
python3 - "$report" <<'PY' || jq -r '.tests[] | "\(.test) \(.status) pass_rate=\(.pass_rate // 1)"' "$report"
import json, sys
for t in json.load(open(sys.argv[1]))["tests"]:
    print(f'{t["test"]}: {t["status"]}, pass rate {t.get("pass_rate", 1.0):.2f} over {len(t.get("attempts", [])) or 1} runs')
PY
((failed == 0))
