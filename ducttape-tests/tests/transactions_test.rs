#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/transactions_test.py`: exactly-once copy in standalone mode (one
//! `TransactionalMessageCopier` per input partition, assigned by hand) while the copiers or the
//! brokers are bounced, cleanly or hard.
//!
//! Every case checks three reads of the output (see [`ducttape_tests::exactly_once`]):
//! `read_committed` read whole after the copy, and the `read_committed` consumer that read
//! during the bounces, must each hold every input value exactly once, in its partition and
//! its partition's order (kafkatest checks order only with one partition; the copier keeps
//! each record's partition, so here it is checked per partition always). The same output read
//! `read_uncommitted` must show the aborted copies — the copier aborts about a third of its
//! transactions on purpose, and a hard bounce leaves its open transaction to be aborted — and
//! the checker must name them as duplicates: the check that passes the committed read is shown
//! to fail on a read that holds copies a transaction did not commit.
//!
//! kafkatest's matrix: failure mode (hard, clean) × bounce target (brokers, clients) ×
//! check_order × use_group_metadata × quorum (ZooKeeper, KRaft). The default run takes one
//! case: KRaft, hard copier bounces, group metadata, 2 input partitions (kafkatest seeds
//! 100,000 records; here 10,000 keeps it near a minute). The rest is `#[ignore]`d; README has
//! the table of its one run.

use ducttape_tests::exactly_once::{copy_under_bounces, CopyCase, Target};
use ducttape_tests::{ctx, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

async fn run(ctx: TestContext, case: CopyCase) {
    let outcome = copy_under_bounces(&ctx, case).await.unwrap();
    outcome.assert_exactly_once();
}

fn case(mode: Mode, target: Target, clean: bool, group_metadata: bool, single: bool) -> CopyCase {
    CopyCase {
        mode,
        group_mode: false,
        target,
        clean,
        use_group_metadata: group_metadata,
        single_partition: single,
        records: if single { 5_000 } else { 10_000 },
    }
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn copiers_hard_bounced_copy_exactly_once(ctx: TestContext) {
    run(ctx, case(Mode::Kraft, Target::Copiers, false, true, false)).await;
}

#[rstest]
#[case::kraft_copiers_clean(Mode::Kraft, Target::Copiers, true, true, false)]
#[case::kraft_brokers_hard(Mode::Kraft, Target::Brokers, false, true, false)]
#[case::kraft_brokers_clean(Mode::Kraft, Target::Brokers, true, true, false)]
#[case::kraft_copiers_hard_no_group_metadata(Mode::Kraft, Target::Copiers, false, false, false)]
#[case::kraft_copiers_hard_in_order(Mode::Kraft, Target::Copiers, false, true, true)]
#[case::kraft_brokers_hard_in_order(Mode::Kraft, Target::Brokers, false, true, true)]
#[case::zookeeper_copiers_hard(Mode::Zookeeper, Target::Copiers, false, true, false)]
#[case::zookeeper_brokers_hard(Mode::Zookeeper, Target::Brokers, false, true, false)]
#[case::zookeeper_brokers_clean_no_group_metadata(
    Mode::Zookeeper,
    Target::Brokers,
    true,
    false,
    false
)]
#[tokio::test]
#[serial(heavy)]
#[ignore = "kafkatest's matrix, ≈ 1–3 min a case; run with --ignored transactions_matrix"]
async fn transactions_matrix(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] target: Target,
    #[case] clean: bool,
    #[case] group_metadata: bool,
    #[case] single: bool,
) {
    run(ctx, case(mode, target, clean, group_metadata, single)).await;
}
