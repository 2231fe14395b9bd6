#!/usr/bin/env bash
# Side by side, on this machine and in the same session: one of Kafka's own kafkatest tests on
# Confluent's ducktape and our port of it, alternating kafkatest, ours, kafkatest, ours … on
# the same local nodes, then a table with each run's phases, the load average before it, and
# the ratio ours ÷ kafkatest. CASE chooses the pair:
#
#   producer_throughput (default)
#       kafkatest `Benchmark.test_producer_throughput` (acks=1, topic-replication-factor-one:
#       ZooKeeper + 3 brokers, 128 MiB of 100 B records = 1,342,177 records) against
#       `kafka_benchmark::case_01_producer_rf1` at the same size
#       (DUCTTAPE_BENCH_MODE=zookeeper DUCTTAPE_BENCH_DATA_BYTES=$DATA_BYTES).
#   replication_clean_bounce
#       kafkatest `ReplicationTest.test_replication_with_broker_failure` (failure_mode=
#       clean_bounce, broker_type=leader, security_protocol=PLAINTEXT, metadata_quorum=ZK:
#       ZooKeeper + 3 brokers, topic of 3 partitions, RF 3, min.insync.replicas=2, the leader of
#       partition 0 restarted cleanly 5 times under a verifiable producer and consumer) against
#       `replication_with_broker_failure::…_leader_clean_bounce_zk` (same parameters; an
#       `#[ignore]`d case, run with --include-ignored).
#
# Not part of CI. Needs root (the local cluster), python3 with venv, and:
#
#   KAFKA_SRC   an apache/kafka checkout or extracted tree at the 3.9 line (needs `tests/` and
#               `bin/`). This machine cannot download it from GitHub: get it some other way,
#               e.g. `git archive 3.9 tests bin config | tar -x -C DIR` from a mirror you have.
#
# Optional:
#   CASE        producer_throughput (default) or replication_clean_bounce
#   RUNS        pairs of runs (default 2)
#   WORK        working directory for the venv, cluster file and results
#               (default /var/tmp/kafkatest-side)
#   DATA_BYTES  bytes produced by our producer_throughput case (default 134217728,
#               kafkatest's target_data_size)
#
# What it sets up, each time:
#   - a venv in $WORK/venv with ducktape at kafkatest's pin (tests/setup.py: 0.11.4) from PyPI.
#     ducktape 0.11.4 pins dependencies that do not build on Python 3.11 (pyzmq 19, PyYAML
#     5.3.1, pycryptodome 3.9.8): it is installed without them and current releases are
#     installed instead; a .pth shim gives `collections.Iterable` back (removed in Python 3.10,
#     still used by ducktape 0.11.4's `Cluster.free`). kafkatest itself is on PYTHONPATH.
#   - /opt/kafka-dev (kafkatest's DEV_BRANCH home): `bin/` and `config/` copied from KAFKA_SRC,
#     `libs` a symlink to /opt/kafka-3.9.2/libs (build.sh's jars, the ones our case runs).
#     Recreated on every run of this script and removed when it exits; an /opt/kafka-dev this
#     script did not make is left alone and the script stops.
#   - a local cluster of 7 nodes (`ducttape-local up`; both tests' @cluster ask for 7, they use
#     5 and 6), shared by both sides: ours runs with DUCTTAPE_CLUSTER pointing at the same
#     cluster file, so neither side pays for node start-up. Taken down when the script exits.
#
# Phases, from each side's own records:
#   kafkatest: ducktape's test_log.info timestamps: bring-up = "Setting up..." → the first line
#     naming the workload's service (ProducerPerformanceService, or the VerifiableProducer
#     "starting service"; ZooKeeper, 3 brokers and the topics before it); workload → the
#     test's "Tearing down..."; teardown → its PASS/FAIL line; test = report.json's
#     run_time_seconds.
#   ours: summary.json's phases and duration.
#   wall: the whole ducktape / cargo test process (the test binary is built beforehand).
#   result: records/s (producer_throughput) or acknowledged records (replication_clean_bounce:
#     kafkatest's "Number of acked records", our summary's `acked`).
set -euo pipefail

: "${KAFKA_SRC:?set KAFKA_SRC to an apache/kafka tree at 3.9 (tests/ and bin/); see the header}"
CASE="${CASE:-producer_throughput}"
RUNS="${RUNS:-2}"
WORK="${WORK:-/var/tmp/kafkatest-side}"
DATA_BYTES="${DATA_BYTES:-134217728}"
KAFKA_DEV=/opt/kafka-dev
KAFKA_LIBS=/opt/kafka-3.9.2/libs
MARKER="$KAFKA_DEV/.made-by-kafkatest-side"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$WORK/venv"
CLUSTER_FILE="$WORK/cluster.json"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
LOCAL="$TARGET_DIR/debug/ducttape-local"

die() { echo "side_by_side: $*" >&2; exit 1; }

# --- the pair of tests: each side's test, where its records land, what its workload is -------
#   KT_FILE, KT_TEST, KT_PARAMS  kafkatest's file (under tests/), Class.method and parameters
#   KT_WORKLOAD                  the first line of test_log.info naming it ends bring-up
#   OURS_TEST, OURS_CASE         our test binary and test (a unique suffix of its name)
#   OURS_ENV                     environment our case runs with
#   RESULT                       the last column: records_per_sec or acked
case "$CASE" in
  producer_throughput)
    KT_FILE=kafkatest/benchmarks/core/benchmark_test.py
    KT_TEST=Benchmark.test_producer_throughput
    KT_PARAMS='{"acks":1,"topic":"topic-replication-factor-one"}'
    KT_WORKLOAD=ProducerPerformanceService
    OURS_TEST=benchmark_test OURS_CASE=kafka_benchmark::case_01_producer_rf1
    OURS_ENV=(DUCTTAPE_BENCH_MODE=zookeeper "DUCTTAPE_BENCH_DATA_BYTES=$DATA_BYTES")
    RESULT=records_per_sec
    ;;
  replication_clean_bounce)
    KT_FILE=kafkatest/tests/core/replication_test.py
    KT_TEST=ReplicationTest.test_replication_with_broker_failure
    KT_PARAMS='{"failure_mode":"clean_bounce","broker_type":"leader","security_protocol":"PLAINTEXT","metadata_quorum":"ZK"}'
    KT_WORKLOAD=VerifiableProducer
    OURS_TEST=replication_test OURS_CASE=_leader_clean_bounce_zk
    OURS_ENV=()
    RESULT=acked
    ;;
  *) die "CASE=$CASE: expected producer_throughput or replication_clean_bounce" ;;
esac

[[ -f "$KAFKA_SRC/tests/$KT_FILE" ]] || die "$KAFKA_SRC/tests/$KT_FILE not found"
[[ -x "$KAFKA_SRC/bin/kafka-run-class.sh" ]] || die "$KAFKA_SRC/bin/kafka-run-class.sh not found"
grep -q 'DEV_VERSION = KafkaVersion("3\.9\.' "$KAFKA_SRC/tests/kafkatest/version.py" ||
  die "$KAFKA_SRC is not at the 3.9 line (tests/kafkatest/version.py DEV_VERSION)"
[[ -d "$KAFKA_LIBS" ]] || die "$KAFKA_LIBS missing: run ./build.sh"
[[ $EUID -eq 0 ]] || die "needs root (the local cluster)"
mkdir -p "$WORK/results"

# --- venv -------------------------------------------------------------------------------------
DUCKTAPE_PIN="$(grep -o 'ducktape==[0-9.]*' "$KAFKA_SRC/tests/setup.py")" ||
  die "no ducktape pin in $KAFKA_SRC/tests/setup.py"
if ! "$VENV/bin/ducktape" --version 2>/dev/null | grep -qx "${DUCKTAPE_PIN#ducktape==}"; then
  echo "== venv $VENV with $DUCKTAPE_PIN"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-deps "$DUCKTAPE_PIN"
  "$VENV/bin/pip" install -q --no-warn-conflicts "jinja2~=3.0.3" "MarkupSafe~=2.0.0" "pyparsing<3.0.0" zipp pywinrm \
    "requests==2.31.0" "paramiko~=2.10.0" pyzmq pycryptodome more-itertools six PyYAML boto3
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo 'import collections, collections.abc; collections.Iterable = getattr(collections, "Iterable", collections.abc.Iterable)' \
    >"$site/kafkatest_side_py311_compat.pth"
fi

# --- /opt/kafka-dev, the cluster, and cleaning both up ----------------------------------------
cleanup() {
  set +e
  if [[ -x "$LOCAL" ]]; then "$LOCAL" down >/dev/null; fi
  if [[ -f "$MARKER" ]]; then rm -rf "$KAFKA_DEV"; fi
}
if [[ -e "$KAFKA_DEV" && ! -f "$MARKER" ]]; then
  die "$KAFKA_DEV exists and was not made by this script: move it away first"
fi
trap cleanup EXIT
rm -rf "$KAFKA_DEV"
mkdir -p "$KAFKA_DEV"
touch "$MARKER"
cp -a "$KAFKA_SRC/bin" "$KAFKA_SRC/config" "$KAFKA_DEV/"
ln -s "$KAFKA_LIBS" "$KAFKA_DEV/libs"

echo "== building our case and ducttape-local (not timed)"
(cd "$REPO" && cargo build -q -p ducttape-core --bin ducttape-local &&
  cargo test -q -p ducttape-tests --test "$OURS_TEST" --no-run)
# The full name of our case (rstest numbers its cases), so that one test runs, ignored or not.
OURS_NAME="$(cd "$REPO" && cargo test -q -p ducttape-tests --test "$OURS_TEST" -- --list \
  --include-ignored 2>/dev/null | sed -n 's/: test$//p' | grep -E -- "${OURS_CASE}\$")" ||
  die "no test ending in $OURS_CASE in $OURS_TEST"
[[ "$(wc -l <<<"$OURS_NAME")" -eq 1 ]] || die "more than one test ends in $OURS_CASE: $OURS_NAME"

"$LOCAL" up --nodes 7 --cluster-file "$CLUSTER_FILE"

# --- the runs ---------------------------------------------------------------------------------
ROWS="$WORK/rows.tsv"
: >"$ROWS"
load() { cut -d' ' -f1 /proc/loadavg; }

run_kafkatest() {
  local i=$1 la start end sess
  la="$(load)"
  sess="$WORK/results/kafkatest-$i"
  rm -rf "$sess"
  echo "== run $i: kafkatest (load $la)"
  start="$(date +%s.%N)"
  (cd "$KAFKA_SRC/tests" && PYTHONPATH="$KAFKA_SRC/tests" "$VENV/bin/ducktape" \
    --cluster ducktape.cluster.json.JsonCluster --cluster-file "$CLUSTER_FILE" \
    --results-root "$sess" "$KT_FILE::$KT_TEST" --parameters "$KT_PARAMS") >"$sess.log" 2>&1 ||
    echo "ducktape exited non-zero: see $sess.log"
  end="$(date +%s.%N)"
  "$VENV/bin/python" - "$sess" "$start" "$end" "$la" "$i" "${KT_TEST/./\/}" "$KT_WORKLOAD" \
    "$RESULT" >>"$ROWS" <<'EOF'
import glob, json, re, sys
from datetime import datetime
sess, start, end, la, i, test_dir, workload, result = sys.argv[1:]
reports = sorted(glob.glob(f"{sess}/*/{test_dir}/*/1/report.json"))
if not reports:
    sys.exit(f"kafkatest run {i}: no report.json under {sess}")
rep = json.load(open(reports[0]))
stamps = {}
acked = None
pat = re.compile(r"^\[\w+\s+- (\S+ \S+) - .*?\]: (.*)")
for line in open(reports[0].replace("report.json", "test_log.info"), errors="replace"):
    m = pat.match(line)
    if not m:
        continue
    t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    msg = m.group(2)
    for key, needle in (("setup", ": Setting up..."), ("workload", workload),
                        ("teardown", ": Tearing down..."), ("done", ": PASS"), ("done", ": FAIL")):
        if needle in msg and key not in stamps:
            stamps[key] = t
    a = re.search(r"Number of acked records: (\d+)", msg)
    if a:
        acked = int(a.group(1))
def span(a, b):
    return f"{stamps[b] - stamps[a]:.1f}" if a in stamps and b in stamps else "?"
if result == "acked":
    value = str(acked) if acked is not None else "?"
else:
    value = f"{(rep.get('data') or {}).get('records_per_sec', 0):.0f}"
print("\t".join([i, "kafkatest", rep["test_status"], la, span("setup", "workload"),
                 span("workload", "teardown"), span("teardown", "done"),
                 f"{rep['run_time_seconds']:.1f}", f"{float(end) - float(start):.1f}", value]))
EOF
}

run_ours() {
  local i=$1 la start end res
  la="$(load)"
  res="$WORK/results/ours-$i"
  rm -rf "$res"
  echo "== run $i: ours (load $la)"
  start="$(date +%s.%N)"
  (cd "$REPO" && env DUCTTAPE_CLUSTER="$CLUSTER_FILE" DUCTTAPE_RESULTS_DIR="$res" "${OURS_ENV[@]}" \
    cargo test -q -p ducttape-tests --test "$OURS_TEST" -- --exact "$OURS_NAME" \
    --include-ignored --nocapture) >"$res.log" 2>&1 || echo "our case failed: see $res.log"
  end="$(date +%s.%N)"
  "$VENV/bin/python" - "$res" "$start" "$end" "$la" "$i" "${OURS_NAME//:://}" "$RESULT" \
    >>"$ROWS" <<'EOF'
import glob, json, sys
res, start, end, la, i, test_dir, result = sys.argv[1:]
found = sorted(glob.glob(f"{res}/*/{test_dir}/summary.json"))
if not found:
    sys.exit(f"our run {i}: no summary.json under {res}")
s = json.load(open(found[0]))
ph = s.get("phases") or {}
def sec(key):
    v = ph.get(key)
    return f"{float(v):.1f}" if v is not None else "?"
results = s.get("results") or {}
if result == "acked":
    v = results.get("acked")
    value = str(v) if v is not None else "?"
else:
    rate = (results.get("result") or {}).get("records_per_sec")
    value = f"{float(rate):.0f}" if rate else "?"
print("\t".join([i, "ours", str(s.get("status")), la, sec("bring_up_secs"), sec("workload_secs"),
                 sec("teardown_secs"), f"{float(s['duration_secs']):.1f}",
                 f"{float(end) - float(start):.1f}", value]))
EOF
}

for ((i = 1; i <= RUNS; i++)); do
  run_kafkatest "$i"
  run_ours "$i"
done

# --- the table --------------------------------------------------------------------------------
"$VENV/bin/python" - "$ROWS" "$RESULT" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
result = {"acked": "acked records", "records_per_sec": "records/s"}[sys.argv[2]]
print()
print(f"| run | side | status | load before | bring-up s | workload s | teardown s | test s | wall s | {result} |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
def med(side, col):
    vals = [float(r[col]) for r in rows if r[1] == side and r[col] not in ("?", "")]
    return statistics.median(vals) if vals else None
print()
for name, col in (("bring-up", 4), ("workload", 5), ("teardown", 6), ("test", 7), ("wall", 8)):
    k, o = med("kafkatest", col), med("ours", col)
    if k and o is not None:
        print(f"{name:9} median: kafkatest {k:6.1f} s, ours {o:6.1f} s, ours ÷ kafkatest {o / k:.2f}")
EOF
