//! The same tests on several Kafka builds in one command, runs alternated across the builds, one
//! table and one plot of throughput and latency by build, every difference judged against
//! `ducttape-report compare`'s noise bands (see `ducttape_core::report::sweep`).
//!
//! ```text
//! cargo run -p ducttape-benches --bin version_sweep -- \
//!     --kafka 3.9.2 --kafka 4.0.2 --kafka 4.4.0 [--rounds 2] [--test benchmark_test] \
//!     [-- <test name filter and test-harness flags>]
//! ```
//!
//! A build is a release `X.Y.Z` installed by `./build.sh --kafka X.Y.Z` (its `/opt/kafka-X.Y.Z`)
//! or the path of the user's own Kafka in any layout `DUCTTAPE_KAFKA_HOME` accepts (a release
//! directory, a `.tgz`, a built source tree). Each run is `cargo test -p ducttape-tests --test
//! <file> -- <filter> --test-threads=1` with `DUCTTAPE_KAFKA_HOME` naming the build, so every
//! build, releases included, is run the same way: from a home prepared by the same code.
//! The first build is the one the others are judged against. Every run must report the version
//! asked for (`kafka_version` in its summaries, read from the brokers' own logs), else the sweep
//! stops: a sweep whose builds did not all run is no comparison.
//!
//! Written to `<results root>/sweep-<id>/`: `sweep.md` (the table, the verdicts, the runs),
//! `sweep.svg` and `sweep.json`; each run is a results run of its own (`ducttape-report html`
//! and `compare` work on them). Exits 1 when a build is worse than the first beyond noise.
//! `version_sweep --rejudge results/sweep-<id>` writes the table, verdicts and plot again from
//! that sweep's runs, without running anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use ducttape_benches::load_note;
use ducttape_core::report::compare::{self, Sample};
use ducttape_core::report::sweep::{self, Target};
use ducttape_services::KafkaVersion;

/// Why the sweep stopped.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("usage: version_sweep --kafka <X.Y.Z|path> --kafka <…> [--rounds N] [--test FILE] [-- test args]: {0}")]
    Usage(String),
    #[error(transparent)]
    Version(#[from] ducttape_services::KafkaVersionError),
    #[error("{0}: no such Kafka build (give a release X.Y.Z or the path of a Kafka)")]
    NoBuild(String),
    #[error("`{command}` (build {label}) exited with {status} and left no test summary in {dir}; its output ends:\n{tail}")]
    NoSummary {
        label: String,
        command: String,
        status: String,
        dir: PathBuf,
        tail: String,
    },
    #[error("build {label}: asked to run Kafka {expected}, but {test} ran {found}; the sweep compares nothing when a build did not run")]
    WrongVersion {
        label: String,
        expected: String,
        test: String,
        found: String,
    },
    #[error("build {label}: {test} recorded no kafka_version (does it start Kafka?)")]
    NoVersion { label: String, test: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Compare(#[from] compare::CompareError),
    #[error(transparent)]
    Plot(#[from] ducttape_core::report::plots::PlotError),
}

type Result<T> = std::result::Result<T, SweepError>;

/// A build to run: how it is labelled, where it is, and the version it must report (for a
/// release; a path is not checked: its version is whatever it reports, in its runs' summaries).
struct Build {
    label: String,
    home: String,
    expected: Option<String>,
}

struct Args {
    /// A finished sweep to judge again instead of running one.
    rejudge: Option<PathBuf>,
    builds: Vec<Build>,
    rounds: usize,
    test_file: String,
    test_args: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let (own, rest) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let mut builds = Vec::new();
    let mut rejudge = None;
    let (mut rounds, mut test_file) = (2, "benchmark_test".to_string());
    let mut it = own.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| SweepError::Usage(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--kafka" => builds.push(build_of(&value()?)?),
            "--rounds" => {
                let v = value()?;
                rounds = v
                    .parse()
                    .map_err(|_| SweepError::Usage(format!("--rounds {v}: not a number")))?;
            }
            "--test" => test_file = value()?,
            "--rejudge" => rejudge = Some(PathBuf::from(value()?)),
            other => return Err(SweepError::Usage(format!("unknown argument {other:?}"))),
        }
    }
    if let Some(dir) = rejudge {
        return Ok(Args {
            rejudge: Some(dir),
            builds,
            rounds,
            test_file,
            test_args: rest,
        });
    }
    if builds.len() < 2 {
        return Err(SweepError::Usage("give at least two --kafka builds".into()));
    }
    if rounds == 0 {
        return Err(SweepError::Usage("--rounds must be at least 1".into()));
    }
    Ok(Args {
        rejudge: None,
        builds,
        rounds,
        test_file,
        test_args: rest,
    })
}

fn build_of(spec: &str) -> Result<Build> {
    let is_release = spec.split('.').count() == 3
        && spec
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if is_release {
        let v = KafkaVersion::release(spec)?;
        return Ok(Build {
            label: spec.to_string(),
            home: v.home(),
            expected: Some(spec.to_string()),
        });
    }
    if !Path::new(spec).exists() {
        return Err(SweepError::NoBuild(spec.to_string()));
    }
    Ok(Build {
        label: spec.to_string(),
        home: spec.to_string(),
        expected: None,
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One run of the tests on `build`, as results run `run_id`: its sample, and the versions its
/// summaries say ran.
fn run_once(args: &Args, build: &Build, root: &Path, run_id: &str) -> Result<Sample> {
    let dir = root.join(run_id);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "test",
        "-p",
        "ducttape-tests",
        "--test",
        &args.test_file,
        "--",
    ])
    .args(&args.test_args)
    .arg("--test-threads=1")
    .env("DUCTTAPE_KAFKA_HOME", &build.home)
    .env("DUCTTAPE_RUN_ID", run_id)
    .env("DUCTTAPE_RESULTS_DIR", root);
    let shown = format!(
        "DUCTTAPE_KAFKA_HOME={} cargo test -p ducttape-tests --test {} -- {} --test-threads=1",
        build.home,
        args.test_file,
        args.test_args.join(" ")
    );
    println!("run {run_id}: {shown} ({})", load_note());
    let out = cmd.output().map_err(|source| SweepError::Io {
        path: PathBuf::from("cargo"),
        source,
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = root.join(format!("{run_id}.log"));
    std::fs::write(&log, &text).map_err(|source| SweepError::Io { path: log, source })?;
    let summaries = compare::summaries(&dir).map_err(|_| SweepError::NoSummary {
        label: build.label.clone(),
        command: shown.clone(),
        status: out.status.to_string(),
        dir: dir.clone(),
        tail: tail(&text, 30),
    })?;
    for (_, s) in &summaries {
        let test = s["test"].as_str().unwrap_or("?").to_string();
        let found: Vec<&str> = s["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|svc| svc["results"]["kafka_version"].as_str())
            .collect();
        if s["status"] == "skipped" {
            continue;
        }
        let Some(found) = found.first() else {
            return Err(SweepError::NoVersion {
                label: build.label.clone(),
                test,
            });
        };
        if let Some(expected) = &build.expected {
            if found != expected {
                return Err(SweepError::WrongVersion {
                    label: build.label.clone(),
                    expected: expected.clone(),
                    test,
                    found: found.to_string(),
                });
            }
        }
    }
    Ok(Sample::of_summaries(summaries.iter().map(|(_, s)| s)))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match sweep_main(&args) {
        Ok(false) => std::process::ExitCode::SUCCESS,
        Ok(true) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("version_sweep: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the sweep; `Ok(true)` when a build regressed against the first.
fn sweep_main(raw: &[String]) -> Result<bool> {
    let args = parse_args(raw)?;
    if let Some(dir) = &args.rejudge {
        return rejudge(dir);
    }
    let root = ducttape_core::results::results_root();
    let root = std::path::absolute(&root).map_err(|source| SweepError::Io {
        path: root.clone(),
        source,
    })?;
    let id = format!("sweep-{}", ducttape_core::results::run_id());
    let out_dir = root.join(&id);
    std::fs::create_dir_all(&out_dir).map_err(|source| SweepError::Io {
        path: out_dir.clone(),
        source,
    })?;
    let mut targets: Vec<Target> = args
        .builds
        .iter()
        .map(|b| Target {
            label: b.label.clone(),
            runs: Vec::new(),
        })
        .collect();
    let mut run_ids = Vec::new();
    for (round, t) in sweep::schedule(args.builds.len(), args.rounds) {
        let build = &args.builds[t];
        let safe: String = build
            .label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let run_id = format!("{id}-r{round}-{safe}");
        let sample = run_once(&args, build, &root, &run_id)?;
        targets[t].runs.push(sample);
        run_ids.push((build.label.clone(), run_id));
    }
    let header = format!(
        "{} round(s), `--test {}` `{}`",
        args.rounds,
        args.test_file,
        args.test_args.join(" ")
    );
    write_sweep(&out_dir, &id, &header, &targets, &run_ids)
}

/// Judges a finished sweep again from its `sweep.json` and its runs' summaries.
fn rejudge(dir: &Path) -> Result<bool> {
    let path = dir.join("sweep.json");
    let io = |source| SweepError::Io {
        path: path.clone(),
        source,
    };
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).map_err(io)?)
        .map_err(|e| {
            SweepError::Usage(format!("{}: not a sweep's sweep.json: {e}", path.display()))
        })?;
    let root = dir.parent().unwrap_or(dir);
    let mut targets: Vec<Target> = doc["builds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["label"].as_str())
        .map(|label| Target {
            label: label.to_string(),
            runs: Vec::new(),
        })
        .collect();
    let mut run_ids = Vec::new();
    for pair in doc["runs"].as_array().into_iter().flatten() {
        let (Some(label), Some(run)) = (pair[0].as_str(), pair[1].as_str()) else {
            continue;
        };
        let Some(t) = targets.iter_mut().find(|t| t.label == label) else {
            continue;
        };
        t.runs.push(compare::sample_of_run(&root.join(run))?);
        run_ids.push((label.to_string(), run.to_string()));
    }
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let header = doc["header"].as_str().unwrap_or("judged again").to_string();
    write_sweep(dir, &id, &header, &targets, &run_ids)
}

/// Judges `targets` and writes `sweep.md`, `sweep.svg` and `sweep.json` into `out_dir`.
fn write_sweep(
    out_dir: &Path,
    id: &str,
    header: &str,
    targets: &[Target],
    run_ids: &[(String, String)],
) -> Result<bool> {
    let judged = sweep::judge(targets)?;
    let base = &targets[0].label;
    let sentences = sweep::sentences(base, &judged);
    let table = sweep::markdown(targets, &judged);
    let mut md = format!(
        "# Version sweep {id}\n\n{header}, builds alternated (see \
         `ducttape_core::report::sweep`), judged against {base}. Judged at: {}.\n\n{table}\n",
        load_note()
    );
    for s in &sentences {
        md.push_str(&format!("- {s}\n"));
    }
    md.push_str("\nRuns, in the order they ran:\n\n");
    for (label, run) in run_ids {
        md.push_str(&format!("- {label}: `{run}`\n"));
    }
    let write = |name: &str, text: &str| -> Result<()> {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|source| SweepError::Io { path, source })
    };
    write("sweep.md", &md)?;
    write("sweep.svg", &sweep::svg(targets)?)?;
    let json = serde_json::json!({
        "builds": targets.iter().map(|t| serde_json::json!({
            "label": t.label,
            "runs": t.runs.iter().map(|r| &r.numbers).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "runs": run_ids,
        "header": header,
        "verdicts": sentences,
    });
    write(
        "sweep.json",
        &serde_json::to_string_pretty(&json).unwrap_or_default(),
    )?;
    println!("{md}");
    println!("written to {}", out_dir.display());
    Ok(judged.iter().any(|(_, c)| c.regressed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_name_what_is_wrong() {
        let one = parse_args(&strings(&["--kafka", "3.9.2"])).err().unwrap();
        assert!(one.to_string().contains("at least two"), "{one}");
        let missing = parse_args(&strings(&["--kafka", "0.0.1", "--kafka", "3.9.2"]))
            .err()
            .unwrap();
        assert!(
            missing.to_string().ends_with("./build.sh --kafka 0.0.1"),
            "{missing}"
        );
        let nowhere = parse_args(&strings(&["--kafka", "/no/such/kafka"]))
            .err()
            .unwrap();
        assert!(
            nowhere
                .to_string()
                .contains("/no/such/kafka: no such Kafka build"),
            "{nowhere}"
        );
        let bad = parse_args(&strings(&["--rounds", "x"])).err().unwrap();
        assert!(
            bad.to_string().contains("--rounds x: not a number"),
            "{bad}"
        );
    }

    #[test]
    fn the_test_arguments_follow_the_double_dash() {
        let a = parse_args(&strings(&[
            "--kafka",
            "/tmp",
            "--kafka",
            "/",
            "--rounds",
            "3",
            "--",
            "case_01",
            "--include-ignored",
        ]))
        .unwrap();
        assert_eq!(a.rounds, 3);
        assert_eq!(a.test_file, "benchmark_test");
        assert_eq!(a.test_args, strings(&["case_01", "--include-ignored"]));
        assert_eq!(a.builds[1].home, "/");
        assert!(a.builds[0].expected.is_none());
    }
}
