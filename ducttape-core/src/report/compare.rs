//! Run-to-run comparison: what got worse from one run (or a saved baseline) to another.
//!
//! Regressions, in the order they are listed:
//! - a test whose **status got worse**: `pass` → `skipped` → `fail`/`error`/`timeout` (a test
//!   that passed and now fails is the worst news a comparison can bring);
//! - a test of the old run **absent from the new one** (unless the new run is declared a subset
//!   with [`Comparison::of_subset`]: then it is listed as not run);
//! - a **number missing** from the new run that the old run had for a test both ran (a result
//!   that stopped being recorded is not silently dropped). Per-node numbers of a service
//!   (`<test> <service>.<node>.…`) under another node name are the same number on another
//!   node — leases hand out whichever nodes are free — and are counted, not called missing;
//! - a **number beyond its noise band** the bad way.
//!
//! Numbers are judged only for tests that passed on both sides: an early failure's shorter
//! duration or lower latency is not "better", it is the failure, and shows as `not judged`.
//!
//! A baseline (`<results root>/baselines/<name>.json`) keeps the numbers of each run saved
//! under its name (the last [`BASELINE_SAMPLES`]), as criterion keeps its saved baselines. Where
//! a number has repeats there, its noise band is its own spread (three standard deviations
//! relative to the mean, at least 2 %); elsewhere, or when a band is given, the band is fixed
//! ([`DEFAULT_NOISE`] unless told). Which way is worse comes from the number's unit
//! ([`metrics::unit_of`]): throughput down, latency and durations up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::data::FORMAT;
pub use super::format::{fmt_change, fmt_num};
use super::metrics::{self, Better};

/// The relative change taken as noise where a number has no repeats: 10 %.
pub const DEFAULT_NOISE: f64 = 0.10;

/// The smallest change of a duration (in s) that can count as more than noise.
pub const MIN_SECS_CHANGE: f64 = 1.0;

/// How many saved runs a baseline keeps.
pub const BASELINE_SAMPLES: usize = 10;

/// Why two runs could not be compared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// No run of that id, path or name.
    #[error(
        "no run {spec:?}: neither a directory nor a run id under {root} (runs there: {known})"
    )]
    NoRun {
        /// What was asked for.
        spec: String,
        /// The results root looked in.
        root: PathBuf,
        /// Some run ids that do exist.
        known: String,
    },
    /// A directory without any test summary.
    #[error("{dir} holds no summary.json: not a ducttape run directory")]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// A run written by another version of ducttape.
    #[error("{path} is of results format {found}, this ducttape reads format {FORMAT}: rerun the tests with this version to compare them")]
    Format {
        /// The summary in question.
        path: PathBuf,
        /// Its format (1 when it has none).
        found: u64,
    },
    /// No number in common.
    #[error("{a} and {b} have no number in common (different tests?): nothing to compare")]
    NothingInCommon {
        /// One side.
        a: String,
        /// The other.
        b: String,
    },
    /// No baseline of that name.
    #[error("no baseline {name:?} at {path}; save one with --save-baseline {name}")]
    NoBaseline {
        /// Its name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The command was given the wrong things.
    #[error("{0}")]
    Usage(String),
    /// A baseline that does not parse.
    #[error("baseline {path} is not a ducttape baseline: {detail}")]
    BadBaseline {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// The run `spec` names: a directory, `latest`, or a run id under `root`.
pub fn resolve_run(root: &Path, spec: &str) -> Result<PathBuf, CompareError> {
    let as_path = PathBuf::from(spec);
    if as_path.is_dir() {
        return Ok(as_path);
    }
    let under = root.join(spec);
    if !spec.contains('/') && under.is_dir() {
        return Ok(under);
    }
    let mut known: Vec<String> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir() && e.file_name() != "baselines")
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    let known = match known.len() {
        0 => "none".to_string(),
        n if n > 5 => format!("{} … {}", known[..2].join(", "), known[n - 3..].join(", ")),
        _ => known.join(", "),
    };
    Err(CompareError::NoRun {
        spec: spec.to_string(),
        root: root.to_path_buf(),
        known,
    })
}

/// Every test summary of a run directory, with its path; checks their format.
pub fn summaries(dir: &Path) -> Result<Vec<(PathBuf, Value)>, CompareError> {
    let found = super::data::summaries(dir);
    if found.is_empty() {
        return Err(CompareError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    for (path, s) in &found {
        let format = s["format"].as_u64().unwrap_or(1);
        if format != FORMAT {
            return Err(CompareError::Format {
                path: path.clone(),
                found: format,
            });
        }
    }
    Ok(found)
}

/// One run's outcome, or one saved run of a baseline: every number, and each test's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Every number, named `<test> <path>` (see [`metrics::of_summary`]).
    pub numbers: BTreeMap<String, f64>,
    /// Each test's status (`pass`, `fail`, `timeout`, `error`, `skipped`), by test name.
    /// Empty for the runs of a baseline saved before statuses were kept.
    pub statuses: BTreeMap<String, String>,
}

impl Sample {
    /// The numbers and statuses of these test summaries.
    pub fn of_summaries<'a>(summaries: impl IntoIterator<Item = &'a Value>) -> Sample {
        let mut sample = Sample::default();
        for s in summaries {
            sample.numbers.extend(metrics::of_summary(s));
            if let (Some(test), Some(status)) = (s["test"].as_str(), s["status"].as_str()) {
                sample.statuses.insert(test.to_string(), status.to_string());
            }
        }
        sample
    }

    /// The tests it holds: those with a status, and those with numbers.
    fn tests(&self) -> BTreeSet<&str> {
        self.statuses
            .keys()
            .map(String::as_str)
            .chain(self.numbers.keys().map(|n| test_of(n)))
            .collect()
    }
}

/// The test a number belongs to (`<test> <path>`).
fn test_of(name: &str) -> &str {
    name.split_once(' ').map_or(name, |(test, _)| test)
}

/// Every number and status of a run (see [`Sample`]).
pub fn sample_of_run(dir: &Path) -> Result<Sample, CompareError> {
    Ok(Sample::of_summaries(summaries(dir)?.iter().map(|(_, s)| s)))
}

fn baseline_path(root: &Path, name: &str) -> PathBuf {
    root.join("baselines").join(format!("{name}.json"))
}

/// The saved runs of baseline `name` (oldest first). A baseline keeps `samples` (each run's
/// numbers) and `statuses` (each run's test statuses, for the same runs; a baseline saved
/// before statuses were kept has fewer or none, and its older runs get none).
pub fn load_baseline(root: &Path, name: &str) -> Result<Vec<Sample>, CompareError> {
    let path = baseline_path(root, name);
    let text = std::fs::read_to_string(&path).map_err(|_| CompareError::NoBaseline {
        name: name.to_string(),
        path: path.clone(),
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| CompareError::BadBaseline {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    if v["format"].as_u64() != Some(FORMAT) {
        return Err(CompareError::Format {
            path,
            found: v["format"].as_u64().unwrap_or(1),
        });
    }
    let bad = |detail: String| CompareError::BadBaseline {
        path: path.clone(),
        detail,
    };
    let numbers: Vec<BTreeMap<String, f64>> =
        serde_json::from_value(v["samples"].clone()).map_err(|e| bad(e.to_string()))?;
    let statuses: Vec<BTreeMap<String, String>> = match &v["statuses"] {
        Value::Null => Vec::new(),
        s => serde_json::from_value(s.clone()).map_err(|e| bad(e.to_string()))?,
    };
    let Some(unknown) = numbers.len().checked_sub(statuses.len()) else {
        return Err(bad(format!(
            "{} runs' statuses for {} runs' numbers",
            statuses.len(),
            numbers.len()
        )));
    };
    let statuses = std::iter::repeat_with(BTreeMap::new)
        .take(unknown)
        .chain(statuses);
    Ok(numbers
        .into_iter()
        .zip(statuses)
        .map(|(numbers, statuses)| Sample { numbers, statuses })
        .collect())
}

/// Adds `sample` (one run's numbers and statuses) to baseline `name`, keeping the last
/// [`BASELINE_SAMPLES`]; returns the baseline's path.
pub fn save_baseline(
    root: &Path,
    name: &str,
    run: &str,
    sample: &Sample,
) -> Result<PathBuf, CompareError> {
    let path = baseline_path(root, name);
    let mut samples = match load_baseline(root, name) {
        Ok(s) => s,
        Err(CompareError::NoBaseline { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    samples.push(sample.clone());
    let skip = samples.len().saturating_sub(BASELINE_SAMPLES);
    let samples: Vec<_> = samples.into_iter().skip(skip).collect();
    let io = |source| CompareError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let numbers: Vec<_> = samples.iter().map(|s| &s.numbers).collect();
    let statuses: Vec<_> = samples.iter().map(|s| &s.statuses).collect();
    let doc = serde_json::json!({ "format": FORMAT, "name": name, "last_run": run,
        "samples": numbers, "statuses": statuses });
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default()).map_err(io)?;
    Ok(path)
}

/// The noise band of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// The same relative band for every number.
    Fixed(f64),
    /// Each number's own spread where it has repeats, else this band.
    Spread(f64),
}

impl Default for Noise {
    fn default() -> Self {
        Noise::Spread(DEFAULT_NOISE)
    }
}

/// What a change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the noise band.
    Same,
    /// Beyond it, the good way.
    Better,
    /// Beyond it, the bad way: a regression.
    Worse,
    /// Beyond it, for a number that has no good way (a count, a setting).
    Changed,
    /// Not judged: its test did not pass on both sides, so the change says nothing (an early
    /// failure is short, not fast).
    NotJudged,
}

impl Verdict {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "",
            Verdict::Better => "better",
            Verdict::Worse => "REGRESSION",
            Verdict::Changed => "changed",
            Verdict::NotJudged => "not judged",
        }
    }
}

/// One number of both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its name (`<test> <path>`).
    pub name: String,
    /// Its unit.
    pub unit: &'static str,
    /// The old side's value (the mean of its samples).
    pub old: f64,
    /// The new side's value.
    pub new: f64,
    /// `(new - old) / |old|` (infinite when old is 0 and new is not).
    pub change: f64,
    /// The relative band within which a change is noise.
    pub band: f64,
    /// What the change amounts to.
    pub verdict: Verdict,
}

/// What became of a test from the old side to the new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestVerdict {
    /// Its status got worse (`pass` → `skipped` → `fail`/`error`/`timeout`): a regression.
    Worse,
    /// The old side ran it, the new one did not: a regression (it may have crashed its test
    /// binary), unless the new run is a declared subset ([`Comparison::of_subset`]).
    Missing,
    /// Not in the new run, which is a declared subset of the tests.
    NotRun,
    /// Its status got better.
    Better,
    /// Another status of the same rank (`fail` → `timeout`, say).
    Changed,
    /// Only the new side ran it.
    New,
}

impl TestVerdict {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            TestVerdict::Worse => "REGRESSION",
            TestVerdict::Missing => "MISSING from the new run",
            TestVerdict::NotRun => "not in this run",
            TestVerdict::Better => "better",
            TestVerdict::Changed => "changed",
            TestVerdict::New => "new test",
        }
    }

    /// Whether it is a regression.
    pub fn regressed(self) -> bool {
        matches!(self, TestVerdict::Worse | TestVerdict::Missing)
    }
}

/// A test whose status differs between the sides (or that only one side ran).
#[derive(Debug, Clone, PartialEq)]
pub struct TestRow {
    /// The test.
    pub test: String,
    /// Its status on the old side (`None`: not run there, or a baseline that kept no status).
    pub old: Option<String>,
    /// Its status on the new side (`None`: not run).
    pub new: Option<String>,
    /// What it amounts to.
    pub verdict: TestVerdict,
}

/// A number the old side had, for a test the new side ran too, that the new side lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingNumber {
    /// Its name (`<test> <path>`).
    pub name: String,
    /// Its unit.
    pub unit: &'static str,
    /// Its value on the old side (the latest run that had its test).
    pub old: f64,
}

/// Everything that differs between two sides, regressions first in each part.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Tests whose status differs, or that one side lacks: regressions first.
    pub tests: Vec<TestRow>,
    /// Numbers missing from the new side (each a regression).
    pub missing: Vec<MissingNumber>,
    /// Every number both sides have: regressions first, then by name.
    pub rows: Vec<Row>,
    /// Per-node numbers found under other node names on the new side: the same numbers from
    /// other nodes, neither missing nor compared.
    pub renamed: usize,
}

impl Comparison {
    /// The comparison of a new run that ran only some of the tests on purpose: tests it lacks
    /// are listed as not run instead of as regressions.
    pub fn of_subset(mut self) -> Self {
        for t in &mut self.tests {
            if t.verdict == TestVerdict::Missing {
                t.verdict = TestVerdict::NotRun;
            }
        }
        self
    }

    /// How many regressions of each kind: (tests, missing numbers, numbers beyond their band).
    pub fn regressions(&self) -> (usize, usize, usize) {
        (
            self.tests.iter().filter(|t| t.verdict.regressed()).count(),
            self.missing.len(),
            self.rows
                .iter()
                .filter(|r| r.verdict == Verdict::Worse)
                .count(),
        )
    }

    /// Whether anything regressed.
    pub fn regressed(&self) -> bool {
        self.regressions() != (0, 0, 0)
    }

    /// One line of totals.
    pub fn summary(&self) -> String {
        let tests = |v: TestVerdict| self.tests.iter().filter(|t| t.verdict == v).count();
        let rows = |v: Verdict| self.rows.iter().filter(|r| r.verdict == v).count();
        let mut line = format!(
            "tests: {} got worse, {} missing from the new run, {} better, {} changed, {} new",
            tests(TestVerdict::Worse),
            tests(TestVerdict::Missing),
            tests(TestVerdict::Better),
            tests(TestVerdict::Changed),
            tests(TestVerdict::New),
        );
        if tests(TestVerdict::NotRun) > 0 {
            let _ = write!(line, ", {} not in this run", tests(TestVerdict::NotRun));
        }
        let _ = write!(
            line,
            "; {} numbers missing; {} numbers compared: {} regressed, {} better, {} changed, \
             {} within noise, {} not judged (their test did not pass on both sides)",
            self.missing.len(),
            self.rows.len(),
            rows(Verdict::Worse),
            rows(Verdict::Better),
            rows(Verdict::Changed),
            rows(Verdict::Same),
            rows(Verdict::NotJudged),
        );
        if self.renamed > 0 {
            let _ = write!(
                line,
                "; {} per-node numbers under other node names, not compared",
                self.renamed
            );
        }
        line
    }
}

/// How good a status is: `pass`, then `skipped`, then anything else.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "pass" => 0,
        "skipped" => 1,
        _ => 2,
    }
}

/// A per-node number of a service, with its node left out (`<test> <service>.*.<rest>`);
/// `None` for the test's own numbers (duration, phases, results).
fn node_shape(name: &str) -> Option<String> {
    let (test, path) = name.split_once(' ')?;
    let mut parts = path.splitn(3, '.');
    let service = parts.next()?;
    if matches!(service, "duration_secs" | "phases" | "results") {
        return None;
    }
    let (_node, rest) = (parts.next()?, parts.next()?);
    Some(format!("{test} {service}.*.{rest}"))
}

/// Compares `new` with `old` (one or more runs of the old side: a run, or a baseline's). A
/// test's old status and expected numbers are those of the latest old run that has it; each
/// number's old value is its mean over every old run that has it.
pub fn compare(
    old: &[Sample],
    new: &Sample,
    noise: Noise,
    names: (&str, &str),
) -> Result<Comparison, CompareError> {
    let new_tests = new.tests();
    let mut tests = Vec::new();
    let mut missing = Vec::new();
    let mut renamed = 0;
    // Whether a test's numbers can be judged: it passed on both sides (an old status unknown
    // counts as a pass, as before statuses were kept).
    let mut judged: BTreeMap<&str, bool> = BTreeMap::new();
    let old_tests: BTreeSet<&str> = old.iter().flat_map(Sample::tests).collect();
    for &test in &old_tests {
        let Some(reference) = old.iter().rev().find(|s| s.tests().contains(test)) else {
            continue;
        };
        let old_status = reference.statuses.get(test).cloned();
        let new_status = new.statuses.get(test).cloned();
        if !new_tests.contains(test) {
            tests.push(TestRow {
                test: test.to_string(),
                old: old_status,
                new: None,
                verdict: TestVerdict::Missing,
            });
            continue;
        }
        judged.insert(
            test,
            old_status.as_deref().is_none_or(|s| s == "pass")
                && new_status.as_deref().is_none_or(|s| s == "pass"),
        );
        if let (Some(o), Some(n)) = (&old_status, &new_status) {
            let verdict = match status_rank(n).cmp(&status_rank(o)) {
                std::cmp::Ordering::Greater => Some(TestVerdict::Worse),
                std::cmp::Ordering::Less => Some(TestVerdict::Better),
                std::cmp::Ordering::Equal if n != o => Some(TestVerdict::Changed),
                std::cmp::Ordering::Equal => None,
            };
            if let Some(verdict) = verdict {
                tests.push(TestRow {
                    test: test.to_string(),
                    old: old_status.clone(),
                    new: new_status.clone(),
                    verdict,
                });
            }
        }
        // The numbers the latest old run had for this test, and the new run lacks; per-node
        // numbers count as present when as many turn up under other node names.
        let expected = reference
            .numbers
            .iter()
            .filter(|(name, _)| test_of(name) == test);
        let mut lacking: BTreeMap<Option<String>, Vec<(&String, f64)>> = BTreeMap::new();
        for (name, &value) in expected {
            if !new.numbers.contains_key(name) {
                lacking
                    .entry(node_shape(name))
                    .or_default()
                    .push((name, value));
            }
        }
        for (shape, names) in lacking {
            let elsewhere = shape.as_ref().map_or(0, |shape| {
                new.numbers
                    .keys()
                    .filter(|n| test_of(n) == test && !reference.numbers.contains_key(*n))
                    .filter(|n| node_shape(n).as_ref() == Some(shape))
                    .count()
            });
            if elsewhere >= names.len() {
                renamed += names.len();
                continue;
            }
            missing.extend(names.into_iter().map(|(name, old)| MissingNumber {
                name: name.clone(),
                unit: metrics::unit_of(name).0,
                old,
            }));
        }
    }
    for &test in new_tests.difference(&old_tests) {
        tests.push(TestRow {
            test: test.to_string(),
            old: None,
            new: new.statuses.get(test).cloned(),
            verdict: TestVerdict::New,
        });
    }
    tests.sort_by_key(|t| (!t.verdict.regressed(), t.verdict != TestVerdict::NotRun));

    let mut rows = Vec::new();
    for (name, &n) in &new.numbers {
        let samples: Vec<f64> = old
            .iter()
            .filter_map(|s| s.numbers.get(name).copied())
            .collect();
        if samples.is_empty() {
            continue;
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let band = match noise {
            Noise::Fixed(b) => b,
            Noise::Spread(fallback) if samples.len() < 2 || mean == 0.0 => fallback,
            Noise::Spread(_) => {
                let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                    / (samples.len() - 1) as f64;
                (3.0 * var.sqrt() / mean.abs()).max(0.02)
            }
        };
        let change = if mean == 0.0 {
            if n == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(n)
            }
        } else {
            (n - mean) / mean.abs()
        };
        let (unit, better) = metrics::unit_of(name);
        // Durations also have to move by a second: a 0.1 s test taking 0.2 s is scheduling.
        let beyond = change.abs() > band && (unit != "s" || (n - mean).abs() >= MIN_SECS_CHANGE);
        let verdict = match (beyond, better) {
            _ if !judged.get(test_of(name)).copied().unwrap_or(true) => Verdict::NotJudged,
            (false, _) => Verdict::Same,
            (true, Better::Neither) => Verdict::Changed,
            (true, Better::Higher) if change > 0.0 => Verdict::Better,
            (true, Better::Lower) if change < 0.0 => Verdict::Better,
            (true, _) => Verdict::Worse,
        };
        rows.push(Row {
            name: name.clone(),
            unit,
            old: mean,
            new: n,
            change,
            band,
            verdict,
        });
    }
    if rows.is_empty() && missing.is_empty() {
        return Err(CompareError::NothingInCommon {
            a: names.0.to_string(),
            b: names.1.to_string(),
        });
    }
    // Regressions first; the sort is stable, so by name within each part.
    rows.sort_by_key(|r| r.verdict != Verdict::Worse);
    Ok(Comparison {
        tests,
        missing,
        rows,
        renamed,
    })
}

/// The comparison as text, for the terminal: tests whose status changed (regressions
/// first), numbers missing from the new run, then every number both have.
pub fn text_report(c: &Comparison) -> String {
    let mut out = String::new();
    if !c.tests.is_empty() {
        let width = c
            .tests
            .iter()
            .map(|t| t.test.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(out, "{:width$}  {:8}  {:8}  verdict", "test", "old", "new");
        for t in &c.tests {
            let _ = writeln!(
                out,
                "{:width$}  {:8}  {:8}  {}",
                t.test,
                t.old.as_deref().unwrap_or("-"),
                t.new.as_deref().unwrap_or("-"),
                t.verdict.as_str()
            );
        }
        out.push('\n');
    }
    if !c.missing.is_empty() {
        let width = c
            .missing
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:width$}  {:>12}  {:>12}  {:9}  verdict",
            "number missing from the new run", "old", "new", "unit"
        );
        for m in &c.missing {
            let _ = writeln!(
                out,
                "{:width$}  {:>12}  {:>12}  {:9}  REGRESSION",
                m.name,
                fmt_num(m.old),
                "-",
                m.unit
            );
        }
        out.push('\n');
    }
    out.push_str(&text_table(&c.rows));
    out
}

/// The rows as a text table, for the terminal.
pub fn text_table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(6);
    let mut out = format!(
        "{:width$}  {:>12}  {:>12}  {:9}  {:>8}  {:>6}  verdict\n",
        "number", "old", "new", "unit", "change", "band"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:width$}  {:>12}  {:>12}  {:9}  {:>8}  {:>5.1}%  {}",
            r.name,
            fmt_num(r.old),
            fmt_num(r.new),
            r.unit,
            fmt_change(r.change),
            r.band * 100.0,
            r.verdict.as_str()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, f64)]) -> Sample {
        Sample {
            numbers: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            statuses: BTreeMap::new(),
        }
    }

    fn with_status(mut s: Sample, statuses: &[(&str, &str)]) -> Sample {
        s.statuses = statuses
            .iter()
            .map(|(t, v)| (t.to_string(), v.to_string()))
            .collect();
        s
    }

    #[test]
    fn direction_comes_from_the_unit() {
        let old = m(&[
            ("t r.records_per_sec", 1000.0),
            ("t r.p99_ms", 10.0),
            ("t r.n", 5.0),
        ]);
        let new = m(&[
            ("t r.records_per_sec", 500.0),
            ("t r.p99_ms", 5.0),
            ("t r.n", 9.0),
            ("t other", 1.0),
        ]);
        let c = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        let v: Vec<(&str, Verdict)> = c
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.verdict))
            .collect();
        // The regression first.
        assert_eq!(
            v,
            vec![
                ("t r.records_per_sec", Verdict::Worse),
                ("t r.n", Verdict::Changed),
                ("t r.p99_ms", Verdict::Better),
            ]
        );
        assert_eq!(c.rows[0].change, -0.5);
        // A short test twice as slow is not a regression; a long one 20 % slower is.
        let old = m(&[("t duration_secs", 0.2), ("u duration_secs", 60.0)]);
        let new = m(&[("t duration_secs", 0.4), ("u duration_secs", 72.0)]);
        let c = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        let v: Vec<Verdict> = c.rows.iter().map(|r| r.verdict).collect();
        assert_eq!(v, vec![Verdict::Worse, Verdict::Same]);
    }

    #[test]
    fn the_band_is_the_numbers_own_spread_where_it_has_repeats() {
        let samples = [900.0, 1000.0, 1100.0].map(|x| m(&[("t r.records_per_sec", x)]));
        // sd 100 on a mean of 1000: band 30 %. A 25 % drop is noise, a 35 % drop is not.
        let c = compare(
            &samples,
            &m(&[("t r.records_per_sec", 750.0)]),
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert!((c.rows[0].band - 0.3).abs() < 1e-9, "{c:?}");
        assert_eq!(c.rows[0].verdict, Verdict::Same);
        let c = compare(
            &samples,
            &m(&[("t r.records_per_sec", 650.0)]),
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert_eq!(c.rows[0].verdict, Verdict::Worse);
        // A fixed band overrides the spread.
        let c = compare(
            &samples,
            &m(&[("t r.records_per_sec", 750.0)]),
            Noise::Fixed(0.05),
            ("a", "b"),
        )
        .unwrap();
        assert_eq!(c.rows[0].verdict, Verdict::Worse);
    }

    #[test]
    fn a_worse_status_is_a_regression_and_its_numbers_are_not_judged() {
        let old = with_status(
            m(&[
                ("t duration_secs", 60.0),
                ("t r.p99_ms", 10.0),
                ("u duration_secs", 5.0),
            ]),
            &[("t", "pass"), ("u", "fail")],
        );
        // t failed early: shorter, lower latency. u was fixed.
        let new = with_status(
            m(&[
                ("t duration_secs", 3.0),
                ("t r.p99_ms", 2.0),
                ("u duration_secs", 5.0),
            ]),
            &[("t", "fail"), ("u", "pass")],
        );
        let c = compare(
            std::slice::from_ref(&old),
            &new,
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        let tests: Vec<(&str, TestVerdict)> = c
            .tests
            .iter()
            .map(|t| (t.test.as_str(), t.verdict))
            .collect();
        assert_eq!(
            tests,
            vec![("t", TestVerdict::Worse), ("u", TestVerdict::Better)]
        );
        assert!(
            c.rows.iter().all(|r| r.verdict == Verdict::NotJudged),
            "{c:?}"
        );
        assert_eq!(c.regressions(), (1, 0, 0));
        // Every worse status is a regression: skipped, error, timeout too; a pass again is not.
        for (status, worse) in [
            ("skipped", true),
            ("error", true),
            ("timeout", true),
            ("pass", false),
        ] {
            let new = with_status(new.clone(), &[("t", status), ("u", "fail")]);
            let c = compare(
                std::slice::from_ref(&old),
                &new,
                Noise::default(),
                ("a", "b"),
            )
            .unwrap();
            assert_eq!(c.regressed(), worse, "pass -> {status}: {c:?}");
        }
        // fail -> timeout: another failure, not a regression of its own.
        let c = compare(
            std::slice::from_ref(&old),
            &with_status(new.clone(), &[("t", "pass"), ("u", "timeout")]),
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert_eq!(c.tests[0].verdict, TestVerdict::Changed);
        assert!(!c.regressed(), "{c:?}");
    }

    #[test]
    fn missing_numbers_and_tests_are_regressions_listed_first() {
        let old = with_status(
            m(&[
                ("t duration_secs", 6.0),
                ("t r.p99_ms", 10.0),
                ("u duration_secs", 5.0),
            ]),
            &[("t", "pass"), ("u", "pass")],
        );
        let new = with_status(m(&[("t duration_secs", 6.0)]), &[("t", "pass")]);
        let c = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        assert_eq!(
            c.missing,
            vec![MissingNumber {
                name: "t r.p99_ms".into(),
                unit: "ms",
                old: 10.0
            }]
        );
        assert_eq!(c.tests[0].test, "u");
        assert_eq!(c.tests[0].verdict, TestVerdict::Missing);
        assert_eq!(c.regressions(), (1, 1, 0));
        let text = text_report(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("u ") && lines[1].contains("MISSING"),
            "{text}"
        );
        assert!(
            lines[4].starts_with("t r.p99_ms") && lines[4].ends_with("REGRESSION"),
            "{text}"
        );
        // A declared subset: the missing test is listed, not a regression; the number still is.
        let c = c.of_subset();
        assert_eq!(c.tests[0].verdict, TestVerdict::NotRun);
        assert_eq!(c.regressions(), (0, 1, 0));
    }

    #[test]
    fn a_per_node_number_on_another_node_is_not_missing() {
        let old = m(&[
            ("t producer.worker1.result.p99_ms", 10.0),
            ("t producer.worker2.result.p99_ms", 11.0),
        ]);
        // Leased other nodes: the same numbers, other names.
        let new = m(&[
            ("t producer.worker3.result.p99_ms", 10.0),
            ("t producer.worker1.result.p99_ms", 10.0),
        ]);
        let c = compare(
            std::slice::from_ref(&old),
            &new,
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert!(c.missing.is_empty(), "{c:?}");
        assert_eq!(c.renamed, 1);
        // One node's numbers gone for good: missing.
        let new = m(&[("t producer.worker1.result.p99_ms", 10.0)]);
        let c = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        assert_eq!(c.missing.len(), 1, "{c:?}");
        assert_eq!(c.missing[0].name, "t producer.worker2.result.p99_ms");
    }

    #[test]
    fn nothing_in_common_is_an_error_not_an_empty_table() {
        let e = compare(
            &[m(&[("a x_ms", 1.0)])],
            &m(&[("b x_ms", 1.0)]),
            Noise::default(),
            ("r1", "r2"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("r1 and r2 have no number in common"),
            "{e}"
        );
    }
}
