//! `ducttape-report`: compares runs, saves baselines, rewrites a run's HTML report.
//!
//! ```text
//! ducttape-report compare <run-a> <run-b>          # statuses, missing numbers, every number's change
//! ducttape-report compare --baseline main [<run>]  # a run (default latest) against a baseline
//! ducttape-report compare --subset <run-a> <run-b> # run-b ran only some tests: absent ones are no regression
//! ducttape-report compare --save-baseline main [<run>]
//! ducttape-report html <run> [--baseline main]     # rewrite the run's report.html
//! ```
//!
//! Runs are named by id (`2026-11-30--135203-23134`), `latest`, or path. Exit status: 0 when
//! nothing regressed; 1 on a regression — a test whose status got worse, a test or a number
//! the new run lacks, a number beyond its noise band (see [`compare`]); 2 when the inputs
//! cannot be compared (a missing run, nothing in common, an older results format).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command};
use ducttape_core::report::compare::{self, CompareError, Noise};
use ducttape_core::{report, results};

fn cli() -> Command {
    let results = Arg::new("results")
        .long("results")
        .value_name("DIR")
        .help("results root (default: DUCTTAPE_RESULTS_DIR, else results/ of the workspace)");
    let baseline = Arg::new("baseline")
        .long("baseline")
        .value_name("NAME")
        .help("compare with the saved baseline NAME instead of a second run");
    Command::new("ducttape-report")
        .about("Compare ducttape runs, keep baselines, rewrite reports")
        .subcommand_required(true)
        .subcommand(
            Command::new("compare")
                .about("Print what got worse from one run (or a baseline) to another: statuses, missing tests and numbers, every number's change; exit 1 on a regression")
                .arg(Arg::new("runs").num_args(0..=2).value_name("RUN").help("run ids, paths or `latest`: old then new"))
                .arg(baseline.clone())
                .arg(
                    Arg::new("save-baseline")
                        .long("save-baseline")
                        .value_name("NAME")
                        .help("add the (new) run's numbers to baseline NAME"),
                )
                .arg(
                    Arg::new("subset")
                        .long("subset")
                        .action(clap::ArgAction::SetTrue)
                        .help("the new run ran only some of the tests: list the tests it lacks, but as no regression"),
                )
                .arg(
                    Arg::new("noise")
                        .long("noise")
                        .value_name("PERCENT")
                        .value_parser(clap::value_parser!(f64))
                        .help("changes within this many percent are noise (default: each number's own spread in the baseline, else 10)"),
                )
                .arg(results.clone()),
        )
        .subcommand(
            Command::new("html")
                .about("Rewrite a run's report.html and test pages (with a comparison, given --baseline)")
                .arg(Arg::new("run").default_value("latest"))
                .arg(baseline)
                .arg(results),
        )
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn root_of(m: &ArgMatches) -> PathBuf {
    m.get_one::<String>("results")
        .map(PathBuf::from)
        .unwrap_or_else(results::results_root)
}

/// Runs the command; `Ok(true)` when something regressed.
fn run(m: &ArgMatches) -> Result<bool, CompareError> {
    match m.subcommand() {
        Some(("compare", m)) => {
            let root = root_of(m);
            let runs: Vec<&String> = m.get_many::<String>("runs").into_iter().flatten().collect();
            let baseline = m.get_one::<String>("baseline");
            let save = m.get_one::<String>("save-baseline");
            let noise = m
                .get_one::<f64>("noise")
                .map(|p| Noise::Fixed(p / 100.0))
                .unwrap_or_default();
            let (old, new_spec) = match (baseline, runs.as_slice()) {
                (Some(b), [] | [_]) => {
                    let samples = compare::load_baseline(&root, b)?;
                    (
                        Some((format!("baseline {b}"), samples)),
                        runs.first().map_or("latest", |s| s.as_str()),
                    )
                }
                (None, [a, b]) => {
                    let dir = compare::resolve_run(&root, a)?;
                    let sample = compare::sample_of_run(&dir)?;
                    (Some((dir.display().to_string(), vec![sample])), b.as_str())
                }
                (None, [] | [_]) if save.is_some() => {
                    (None, runs.first().map_or("latest", |s| s.as_str()))
                }
                _ => {
                    return Err(CompareError::Usage(
                        "give two runs, or --baseline NAME and at most one run (see --help)".into(),
                    ))
                }
            };
            let new_dir = compare::resolve_run(&root, new_spec)?;
            let new = compare::sample_of_run(&new_dir)?;
            let new_name = new_dir.display().to_string();
            let mut regressed = false;
            if let Some((old_name, samples)) = old {
                let mut c = compare::compare(&samples, &new, noise, (&old_name, &new_name))?;
                if m.get_flag("subset") {
                    c = c.of_subset();
                }
                out(&format!("old: {old_name}\nnew: {new_name}\n\n"));
                out(&compare::text_report(&c));
                out(&format!("\n{}\n", c.summary()));
                regressed = c.regressed();
                if regressed {
                    let (tests, missing, numbers) = c.regressions();
                    out(&format!(
                        "REGRESSED: {tests} tests got worse or are missing, {missing} numbers \
                         missing, {numbers} numbers beyond their noise band\n"
                    ));
                }
            }
            if let Some(name) = save {
                let run_id = new_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let path = compare::save_baseline(&root, name, &run_id, &new)?;
                out(&format!(
                    "saved {} numbers and {} test statuses of {new_name} to baseline {name} ({})\n",
                    new.numbers.len(),
                    new.statuses.len(),
                    path.display()
                ));
            }
            Ok(regressed)
        }
        Some(("html", m)) => {
            let root = root_of(m);
            let spec = m.get_one::<String>("run").map_or("latest", |s| s.as_str());
            let dir = compare::resolve_run(&root, spec)?;
            compare::summaries(&dir)?;
            let io = |source| CompareError::Io {
                path: dir.join("report.html"),
                source,
            };
            match m.get_one::<String>("baseline") {
                Some(name) => {
                    let samples = compare::load_baseline(&root, name)?;
                    report::write_all(&dir, Some((name, &samples))).map_err(io)?;
                }
                None => report::write_all(&dir, None).map_err(io)?,
            }
            out(&format!("{}\n", dir.join("report.html").display()));
            Ok(false)
        }
        _ => Ok(false),
    }
}

fn main() -> ExitCode {
    let matches = cli().get_matches();
    match run(&matches) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ducttape-report: {e}");
            ExitCode::from(2)
        }
    }
}
