#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! What a retried test looks like in the run report. nextest's `flaky` profile
//! (`.config/nextest.toml`, 2 retries) and `./repeat.sh N` run a test again in the same results
//! run; the report folds the runs into one row (`ducttape_core::report::attempts`), status
//! `flaky` when a later run passed after a failure, never `pass`.
//!
//! The test here is that case on purpose, to check either way end to end: it fails its first
//! run in a results run and passes the next (a marker file in the run's directory, written by
//! the first, tells them apart):
//!
//! ```sh
//! cargo nextest run --profile flaky -p ducttape-tests --test retries --run-ignored only
//! ./repeat.sh 2 cargo test -p ducttape-tests --test retries -- --ignored
//! ```
//!
//! and the run's `report.json` has one row for it, status `flaky`, pass rate 0.5, both
//! attempts' directories listed. It leases no node.

use ducttape_tests::{ctx, TestContext};
use rstest::rstest;

#[rstest]
#[tokio::test]
#[ignore = "fails its first run on purpose: run by nextest's flaky profile or repeat.sh to see it reported flaky"]
async fn fails_its_first_run_then_passes(ctx: TestContext) {
    let run_dir = ctx
        .results_dir()
        .parent()
        .expect("a test's directory is inside its run's");
    let marker = run_dir.join("retries-first-run-failed");
    if !marker.exists() {
        std::fs::write(&marker, "").unwrap();
        panic!(
            "the first run in {} fails on purpose; a retry passes",
            run_dir.display()
        );
    }
}
