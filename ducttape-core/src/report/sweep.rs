//! A version sweep: the same tests run on several Kafka builds, alternated round by round, and
//! every build judged against the first with [`compare`]'s noise bands.
//!
//! The runs themselves are started by the `version_sweep` binary (`benches/`); this module holds
//! what can be decided without a cluster: the order of the runs ([`schedule`]), each build's
//! numbers over its rounds ([`mean_sample`]), the verdicts ([`judge`]) and the table, sentences
//! and plot written beside the runs ([`markdown`], [`sentences`], [`svg`]).
//!
//! Alternation: round 0 visits the builds in the order given, round 1 backwards, and so on
//! (A B C, C B A, A B C …). A load that drifts during the sweep then weighs on every build
//! alike, instead of on whichever ran last, as blocked runs (A A B B C C) would have it.

use std::collections::BTreeMap;

use super::compare::{self, CompareError, Comparison, Noise, Sample, Verdict};
use super::format::{fmt_change, fmt_num};
use super::metrics::{self, Better};
use super::plots::{Line, PlotError, Shape};

/// One build of the sweep and the samples of its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// How it is named in the table (`3.9.2`, or the user's build's path).
    pub label: String,
    /// One sample per run, in the order they ran.
    pub runs: Vec<Sample>,
}

/// The order of the runs as `(round, target index)`: forwards in even rounds, backwards in odd
/// ones.
///
/// ```
/// use ducttape_core::report::sweep::schedule;
/// assert_eq!(schedule(3, 2), vec![(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]);
/// ```
pub fn schedule(targets: usize, rounds: usize) -> Vec<(usize, usize)> {
    (0..rounds)
        .flat_map(|round| {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..targets).collect()
            } else {
                (0..targets).rev().collect()
            };
            order.into_iter().map(move |t| (round, t))
        })
        .collect()
}

/// Each number's mean over `runs` (over the runs that have it), and each test's worst status.
pub fn mean_sample(runs: &[Sample]) -> Sample {
    let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for run in runs {
        for (name, &value) in &run.numbers {
            let e = sums.entry(name).or_insert((0.0, 0));
            e.0 += value;
            e.1 += 1;
        }
    }
    let mut statuses: BTreeMap<String, String> = BTreeMap::new();
    for run in runs {
        for (test, status) in &run.statuses {
            let worse = statuses
                .get(test)
                .is_none_or(|old| compare::status_rank(status) > compare::status_rank(old));
            if worse {
                statuses.insert(test.clone(), status.clone());
            }
        }
    }
    Sample {
        numbers: sums
            .into_iter()
            .map(|(name, (sum, n))| (name.to_string(), sum / n as f64))
            .collect(),
        statuses,
    }
}

/// Every build after the first compared with the first: the first's runs are the old side (so
/// a number with repeats there gets its own spread as noise band, see [`compare::compare`]),
/// the build's mean over its runs the new side.
pub fn judge(targets: &[Target]) -> Result<Vec<(String, Comparison)>, CompareError> {
    let Some((base, rest)) = targets.split_first() else {
        return Ok(Vec::new());
    };
    rest.iter()
        .map(|t| {
            compare::compare(
                &base.runs,
                &mean_sample(&t.runs),
                Noise::default(),
                (&base.label, &t.label),
            )
            .map(|c| (t.label.clone(), c))
        })
        .collect()
}

/// Whether a number is one the sweep is about: a throughput or latency the test itself recorded
/// (`<test> results.…`), not durations of set-up, counts, settings, or what a service measured
/// of itself per node (`kafka-metrics.nodes.worker1.sampler_cpu_ms` is the sampler's cost, and
/// its node name changes with the lease).
///
/// ```
/// use ducttape_core::report::sweep::is_performance;
/// assert!(is_performance("t results.result.records_per_sec"));
/// assert!(is_performance("t results.result.p99_ms"));
/// assert!(!is_performance("t kafka-metrics.nodes.worker1.sampler_cpu_ms"));
/// assert!(!is_performance("t results.result.records"));
/// ```
pub fn is_performance(name: &str) -> bool {
    let own = name
        .split_once(' ')
        .is_some_and(|(_, path)| path.starts_with("results."));
    own && matches!(metrics::unit_of(name).0, "records/s" | "MB/s" | "ms" | "µs")
}

/// The performance numbers every build has, sorted.
fn shared_numbers(targets: &[Target]) -> Vec<String> {
    let means: Vec<Sample> = targets.iter().map(|t| mean_sample(&t.runs)).collect();
    let Some(first) = means.first() else {
        return Vec::new();
    };
    first
        .numbers
        .keys()
        .filter(|n| is_performance(n))
        .filter(|n| means.iter().all(|m| m.numbers.contains_key(*n)))
        .cloned()
        .collect()
}

/// One sentence per number beyond its noise band ("4.4.0 is 7.0 % slower than 3.9.2 on …"),
/// then one per test whose status differs, then how many numbers stayed within noise.
pub fn sentences(base: &str, judged: &[(String, Comparison)]) -> Vec<String> {
    let mut out = Vec::new();
    for (label, c) in judged {
        for t in &c.tests {
            out.push(format!(
                "{label}: {} was {} on {base}, {} on {label}",
                t.test,
                t.old.as_deref().unwrap_or("absent"),
                t.new.as_deref().unwrap_or("absent"),
            ));
        }
        let mut within = 0;
        for r in c.rows.iter().filter(|r| is_performance(&r.name)) {
            let (_, better) = metrics::unit_of(&r.name);
            let word = match (better, r.change > 0.0) {
                (Better::Higher, true) => "faster",
                (Better::Higher, false) => "slower",
                (Better::Lower, true) => "higher latency",
                (Better::Lower, false) => "lower latency",
                (Better::Neither, _) => "different",
            };
            match r.verdict {
                Verdict::Worse | Verdict::Better | Verdict::Changed => out.push(format!(
                    "{label} is {:.1} % {word} than {base} on {} ({} → {} {}), beyond noise (band ±{:.1} %){}",
                    r.change.abs() * 100.0,
                    r.name,
                    fmt_num(r.old),
                    fmt_num(r.new),
                    r.unit,
                    r.band * 100.0,
                    if r.verdict == Verdict::Worse { ": REGRESSION" } else { "" },
                )),
                Verdict::NotJudged => out.push(format!(
                    "{label}: {} not judged (its test did not pass on both builds)",
                    r.name
                )),
                Verdict::Same => within += 1,
            }
        }
        out.push(format!(
            "{label}: {within} throughput/latency number(s) within noise of {base}"
        ));
    }
    out
}

/// The table: one row per throughput or latency number every build has; per build its mean,
/// the spread of its runs (min–max) and, after the first, the change and verdict.
pub fn markdown(targets: &[Target], judged: &[(String, Comparison)]) -> String {
    let mut out = String::from("| number | unit |");
    for t in targets {
        out.push_str(&format!(" {} ({} runs) |", t.label, t.runs.len()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(targets.len()));
    out.push('\n');
    for name in shared_numbers(targets) {
        out.push_str(&format!("| `{name}` | {} |", metrics::unit_of(&name).0));
        for (i, t) in targets.iter().enumerate() {
            let values: Vec<f64> = t
                .runs
                .iter()
                .filter_map(|r| r.numbers.get(&name).copied())
                .collect();
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.push_str(&format!(" {}", fmt_num(mean)));
            if values.len() > 1 {
                out.push_str(&format!(" ({}–{})", fmt_num(lo), fmt_num(hi)));
            }
            if i > 0 {
                let row = judged
                    .get(i - 1)
                    .and_then(|(_, c)| c.rows.iter().find(|r| r.name == name));
                if let Some(r) = row {
                    out.push_str(&format!(", {}", fmt_change(r.change)));
                    let v = r.verdict.as_str();
                    if !v.is_empty() {
                        out.push_str(&format!(" **{v}**"));
                    }
                }
            }
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

/// The plot: every throughput and latency number as a line across the builds, each point the
/// build's mean as a percentage of the first build's.
pub fn svg(targets: &[Target]) -> Result<String, PlotError> {
    let means: Vec<Sample> = targets.iter().map(|t| mean_sample(&t.runs)).collect();
    let lines: Vec<Line> = shared_numbers(targets)
        .into_iter()
        .filter_map(|name| {
            let base = means.first()?.numbers.get(&name).copied()?;
            if base == 0.0 {
                return None;
            }
            let points = means
                .iter()
                .enumerate()
                .filter_map(|(i, m)| Some((i as f64, m.numbers.get(&name)? / base * 100.0)))
                .collect();
            Some(Line {
                label: format!("{name} ({})", metrics::unit_of(&name).0),
                points,
                shape: Shape::Joined,
            })
        })
        .collect();
    let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
    super::plots::svg_by_category(
        "throughput and latency by Kafka build (% of the first)",
        "% of the first build",
        &labels,
        &lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(test: &str, status: &str, numbers: &[(&str, f64)]) -> Sample {
        Sample {
            numbers: numbers
                .iter()
                .map(|(n, v)| (format!("{test} {n}"), *v))
                .collect(),
            statuses: [(test.to_string(), status.to_string())].into(),
        }
    }

    fn target(label: &str, runs: Vec<Sample>) -> Target {
        Target {
            label: label.into(),
            runs,
        }
    }

    #[test]
    fn the_schedule_alternates_so_no_build_always_runs_last() {
        let s = schedule(2, 4);
        assert_eq!(
            s,
            vec![
                (0, 0),
                (0, 1),
                (1, 1),
                (1, 0),
                (2, 0),
                (2, 1),
                (3, 1),
                (3, 0)
            ]
        );
        let last_of_round: Vec<usize> = s.chunks(2).map(|c| c[1].1).collect();
        assert_eq!(last_of_round, vec![1, 0, 1, 0]);
        assert!(schedule(3, 0).is_empty());
    }

    #[test]
    fn the_mean_is_per_number_and_the_status_the_worst() {
        let m = mean_sample(&[
            run("b", "pass", &[("results.p.records_per_sec", 100.0)]),
            run(
                "b",
                "fail",
                &[("results.p.records_per_sec", 50.0), ("results.x_ms", 3.0)],
            ),
        ]);
        assert_eq!(m.numbers["b results.p.records_per_sec"], 75.0);
        assert_eq!(m.numbers["b results.x_ms"], 3.0);
        assert_eq!(m.statuses["b"], "fail");
    }

    #[test]
    fn a_slower_build_beyond_noise_is_a_regression_and_within_noise_is_not() {
        let rps = "results.p.records_per_sec";
        let base = target(
            "3.9.2",
            vec![
                run("b", "pass", &[(rps, 100.0)]),
                run("b", "pass", &[(rps, 102.0)]),
            ],
        );
        let slow = target("4.4.0", vec![run("b", "pass", &[(rps, 80.0)])]);
        let same = target("4.0.2", vec![run("b", "pass", &[(rps, 101.5)])]);
        let judged = judge(&[base.clone(), same, slow]).unwrap();
        assert_eq!(judged.len(), 2);
        assert!(!judged[0].1.regressed(), "{:?}", judged[0].1);
        assert!(judged[1].1.regressed(), "{:?}", judged[1].1);
        let text = sentences("3.9.2", &judged).join("\n");
        assert!(
            text.contains("4.4.0 is 20.8 % slower than 3.9.2 on b results.p.records_per_sec"),
            "{text}"
        );
        assert!(text.contains("REGRESSION"), "{text}");
        assert!(
            text.contains("4.0.2: 1 throughput/latency number(s) within noise"),
            "{text}"
        );
        assert!(!text.contains("4.0.2 is"), "{text}");
    }

    #[test]
    fn a_test_that_fails_on_one_build_is_named_and_its_numbers_not_judged() {
        let rps = "results.p.records_per_sec";
        let base = target("3.9.2", vec![run("b", "pass", &[(rps, 100.0)])]);
        let broken = target("mine", vec![run("b", "fail", &[(rps, 200.0)])]);
        let judged = judge(&[base, broken]).unwrap();
        assert!(judged[0].1.regressed());
        let text = sentences("3.9.2", &judged).join("\n");
        assert!(
            text.contains("mine: b was pass on 3.9.2, fail on mine"),
            "{text}"
        );
        assert!(text.contains("not judged"), "{text}");
        assert!(!text.contains("faster"), "{text}");
    }

    #[test]
    fn the_table_and_plot_hold_only_numbers_every_build_has() {
        let rps = "results.p.records_per_sec";
        let base = target(
            "3.9.2",
            vec![run(
                "b",
                "pass",
                &[(rps, 100.0), ("results.p99_ms", 5.0), ("results.n", 3.0)],
            )],
        );
        let other = target("4.4.0", vec![run("b", "pass", &[(rps, 90.0)])]);
        let judged = judge(&[base.clone(), other.clone()]).unwrap();
        let table = markdown(&[base.clone(), other.clone()], &judged);
        assert!(
            table.contains("| `b results.p.records_per_sec` | records/s | 100 | 90, -10.0%"),
            "{table}"
        );
        assert!(!table.contains("p99_ms"), "{table}");
        assert!(!table.contains("results.n"), "{table}");
        let plot = svg(&[base, other]).unwrap();
        assert!(plot.starts_with("<svg"), "{plot}");
        assert!(plot.contains("4.4.0"), "{plot}");
    }
}
