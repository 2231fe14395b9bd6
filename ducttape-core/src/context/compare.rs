//! Run-to-run comparison: every number two runs (or a saved baseline and a run) both have,
//! its change, and whether that change is a regression beyond the noise band.
//!
//! A baseline (`<results root>/baselines/<name>.json`) keeps the numbers of each run saved
//! under its name (the last [`BASELINE_SAMPLES`]), as criterion keeps its saved baselines. Where
//! a number has repeats there, its noise band is its own spread (three standard deviations
//! relative to the mean, at least 2 %); elsewhere, or when a band is given, the band is fixed
//! ([`DEFAULT_NOISE`] unless told). Which way is worse comes from the number's unit
//! ([`metrics::unit_of`]): throughput down, latency and durations up.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::metrics::{self, Better};
use super::results::FORMAT;

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
    let found = super::report::summaries(dir);
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

/// Every number of a run (see [`metrics::of_summary`]).
pub fn numbers_of_run(dir: &Path) -> Result<BTreeMap<String, f64>, CompareError> {
    Ok(summaries(dir)?
        .iter()
        .flat_map(|(_, s)| metrics::of_summary(s))
        .collect())
}

fn baseline_path(root: &Path, name: &str) -> PathBuf {
    root.join("baselines").join(format!("{name}.json"))
}

/// The saved samples of baseline `name` (oldest first).
pub fn load_baseline(root: &Path, name: &str) -> Result<Vec<BTreeMap<String, f64>>, CompareError> {
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
    serde_json::from_value(v["samples"].clone()).map_err(|e| CompareError::BadBaseline {
        path,
        detail: e.to_string(),
    })
}

/// Adds `numbers` (one run's) to baseline `name`, keeping the last [`BASELINE_SAMPLES`];
/// returns the baseline's path.
pub fn save_baseline(
    root: &Path,
    name: &str,
    run: &str,
    numbers: &BTreeMap<String, f64>,
) -> Result<PathBuf, CompareError> {
    let path = baseline_path(root, name);
    let mut samples = match load_baseline(root, name) {
        Ok(s) => s,
        Err(CompareError::NoBaseline { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    samples.push(numbers.clone());
    let skip = samples.len().saturating_sub(BASELINE_SAMPLES);
    let samples: Vec<_> = samples.into_iter().skip(skip).collect();
    let io = |source| CompareError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let doc =
        serde_json::json!({ "format": FORMAT, "name": name, "last_run": run, "samples": samples });
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
}

impl Verdict {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "",
            Verdict::Better => "better",
            Verdict::Worse => "REGRESSION",
            Verdict::Changed => "changed",
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

/// Compares `new` with `old` (one or more samples of the old side).
pub fn compare(
    old: &[BTreeMap<String, f64>],
    new: &BTreeMap<String, f64>,
    noise: Noise,
    names: (&str, &str),
) -> Result<Vec<Row>, CompareError> {
    let mut rows = Vec::new();
    for (name, &n) in new {
        let samples: Vec<f64> = old.iter().filter_map(|s| s.get(name).copied()).collect();
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
    if rows.is_empty() {
        return Err(CompareError::NothingInCommon {
            a: names.0.to_string(),
            b: names.1.to_string(),
        });
    }
    Ok(rows)
}

/// A number as the tables print it: four significant digits or so.
pub fn fmt_num(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 0.01 && x.abs() < 1e7) {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// A relative change as a signed percentage.
pub fn fmt_change(change: f64) -> String {
    if change.is_infinite() {
        "new".into()
    } else {
        format!("{:+.1}%", change * 100.0)
    }
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

    fn m(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
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
        let rows = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        let v: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.name.as_str(), r.verdict)).collect();
        assert_eq!(
            v,
            vec![
                ("t r.n", Verdict::Changed),
                ("t r.p99_ms", Verdict::Better),
                ("t r.records_per_sec", Verdict::Worse)
            ]
        );
        assert_eq!(rows[2].change, -0.5);
        // A short test twice as slow is not a regression; a long one 20 % slower is.
        let old = m(&[("t duration_secs", 0.2), ("u duration_secs", 60.0)]);
        let new = m(&[("t duration_secs", 0.4), ("u duration_secs", 72.0)]);
        let rows = compare(&[old], &new, Noise::default(), ("a", "b")).unwrap();
        let v: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
        assert_eq!(v, vec![Verdict::Same, Verdict::Worse]);
    }

    #[test]
    fn the_band_is_the_numbers_own_spread_where_it_has_repeats() {
        let samples = [900.0, 1000.0, 1100.0].map(|x| m(&[("t r.records_per_sec", x)]));
        // sd 100 on a mean of 1000: band 30 %. A 25 % drop is noise, a 35 % drop is not.
        let rows = compare(
            &samples,
            &m(&[("t r.records_per_sec", 750.0)]),
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert!((rows[0].band - 0.3).abs() < 1e-9, "{rows:?}");
        assert_eq!(rows[0].verdict, Verdict::Same);
        let rows = compare(
            &samples,
            &m(&[("t r.records_per_sec", 650.0)]),
            Noise::default(),
            ("a", "b"),
        )
        .unwrap();
        assert_eq!(rows[0].verdict, Verdict::Worse);
        // A fixed band overrides the spread.
        let rows = compare(
            &samples,
            &m(&[("t r.records_per_sec", 750.0)]),
            Noise::Fixed(0.05),
            ("a", "b"),
        )
        .unwrap();
        assert_eq!(rows[0].verdict, Verdict::Worse);
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
