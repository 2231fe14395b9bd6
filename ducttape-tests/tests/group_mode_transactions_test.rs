#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/group_mode_transactions_test.py`: exactly-once copy in group mode — three
//! `TransactionalMessageCopier`s subscribe to a 9-partition input in one consumer group and
//! commit offsets with the group's metadata (KIP-447), so a bounced copier's partitions move
//! to the others mid-transaction — while the copiers or the brokers are bounced, cleanly or
//! hard. Seeded with keys `0..8` in turn (kafkatest's `repeating_keys`).
//!
//! Checks as in `transactions_test.rs` (see [`ducttape_tests::exactly_once`]): the `read_committed`
//! reads, whole and during the bounces, hold every input value once, in its partition and in
//! order; the `read_uncommitted` read shows the aborted copies, which the checker names.
//!
//! kafkatest's matrix: failure mode (hard, clean) × bounce target (brokers, clients), in
//! ZooKeeper mode. The default run takes KRaft with clean copier bounces and 4,500 records
//! (a hard-killed member holds its partitions until its 10 s session times out, each of up to
//! nine bounces, which the budget of the default run does not allow); the matrix, hard bounces
//! included, seeds 18,000 and is `#[ignore]`d; its one run is in README.

use ducttape_tests::exactly_once::{copy_under_bounces, CopyCase, Target};
use ducttape_tests::{ctx, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

async fn run(ctx: TestContext, mode: Mode, target: Target, clean: bool, records: u32) {
    let case = CopyCase {
        mode,
        group_mode: true,
        target,
        clean,
        use_group_metadata: true,
        single_partition: false,
        records,
    };
    let outcome = copy_under_bounces(&ctx, case).await.unwrap();
    // Keys 0..8 hash onto 7 of the 9 partitions (as in kafkatest): enough for every copier.
    assert!(
        outcome.input_partitions.len() >= 3,
        "the seed reached fewer partitions than there are copiers: {:?}",
        outcome.input_partitions
    );
    outcome.assert_exactly_once();
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn grouped_copiers_bounced_copy_exactly_once(ctx: TestContext) {
    run(ctx, Mode::Kraft, Target::Copiers, true, 4_500).await;
}

#[rstest]
#[case::kraft_copiers_hard(Mode::Kraft, Target::Copiers, false)]
#[case::kraft_brokers_hard(Mode::Kraft, Target::Brokers, false)]
#[case::kraft_brokers_clean(Mode::Kraft, Target::Brokers, true)]
#[case::zookeeper_copiers_hard(Mode::Zookeeper, Target::Copiers, false)]
#[case::zookeeper_copiers_clean(Mode::Zookeeper, Target::Copiers, true)]
#[case::zookeeper_brokers_hard(Mode::Zookeeper, Target::Brokers, false)]
#[case::zookeeper_brokers_clean(Mode::Zookeeper, Target::Brokers, true)]
#[tokio::test]
#[serial(heavy)]
#[ignore = "kafkatest's matrix, ≈ 2–4 min a case; run with --ignored group_mode_transactions_matrix"]
async fn group_mode_transactions_matrix(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] target: Target,
    #[case] clean: bool,
) {
    run(ctx, mode, target, clean, 18_000).await;
}
