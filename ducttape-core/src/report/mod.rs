//! The report: it reads what tests left in their results directories — `summary.json`,
//! `events.jsonl`, `test.log`, described in [`data`] — and writes the run report
//! (`report.json`, `junit.xml` and `report.html` in `results/<run-id>/`) and each test's own
//! page (`<test dir>/report.html`: why it failed, phases, plots over time, events, numbers with
//! their units). It also compares runs ([`compare`]).
//!
//! It never sits in a test's lifecycle: it depends on no part of the per-test context (a test
//! in this module checks that), and the context calls it only once a test's `summary.json` is
//! written, to rewrite the pages ([`write_test_page`], [`write_run_report`]; each file is
//! replaced atomically), so the report is complete when the last test ends, whichever binary
//! ran it. `ducttape-report html <run>` does the same for a whole run afterwards.
//!
//! | module | holds |
//! |---|---|
//! | [`data`] | the data contract: [`data::Summary`] and the typed keys inside it, events |
//! | [`phases`] | bring-up, workload and teardown, from the events |
//! | [`plots`] | the plot registry ([`plots::PLOTS`]) and the SVG drawing |
//! | [`metrics`] | numbers flattened by name, with unit and direction |
//! | [`compare`] | run-to-run comparison and baselines |
//! | [`sweep`] | one set of tests on several Kafka builds, alternated and judged |
//! | `page`, `run` | the test page and the run report (HTML, JSON, JUnit) |

pub mod attempts;
pub mod compare;
pub mod data;
mod format;
mod html;
pub mod metrics;
mod page;
pub mod phases;
pub mod plots;
mod run;
pub mod sweep;

use std::path::Path;

use serde_json::Value;

pub use data::summaries;
pub use format::{fmt_change, fmt_num};
pub use page::test_page;
pub use run::{write_run_report, write_run_report_with, Baseline};

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    crate::files::write_atomically(path, contents.as_bytes(), 0o644)
}

/// Writes the page of the test whose results are in `test_dir` (from its `summary.json`).
pub fn write_test_page(run_dir: &Path, test_dir: &Path) -> std::io::Result<()> {
    let path = test_dir.join("summary.json");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    write_atomically(
        &test_dir.join("report.html"),
        &page::test_page(run_dir, &path, &summary),
    )
}

/// Rewrites every test page of `run_dir` and its run report (see [`write_run_report_with`]).
pub fn write_all(run_dir: &Path, baseline: Option<Baseline<'_>>) -> std::io::Result<()> {
    for (path, summary) in summaries(run_dir) {
        if let Some(dir) = path.parent() {
            write_atomically(
                &dir.join("report.html"),
                &page::test_page(run_dir, &path, &summary),
            )?;
        }
    }
    write_run_report_with(run_dir, baseline)
}

#[cfg(test)]
mod layering {
    /// The report reads results; it must not reach into the per-test lifecycle.
    #[test]
    fn the_report_uses_nothing_of_the_context() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report");
        let mut stack = vec![dir];
        let mut checked = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    let code: String = text
                        .lines()
                        .filter(|l| !l.trim_start().starts_with("//"))
                        .collect::<Vec<_>>()
                        .join("\n");
                    // Spelled in parts, so this file does not name them itself.
                    let banned = [
                        ["crate::", "context"],
                        ["Test", "Context"],
                        ["crate::", "log"],
                    ];
                    for bad in banned.map(|p| p.concat()) {
                        assert!(!code.contains(&bad), "{} uses {bad}", p.display());
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 8, "only {checked} files checked");
    }
}
