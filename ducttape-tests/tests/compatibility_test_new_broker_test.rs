#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `compatibility_test_new_broker_test` (old clients against new brokers) and
//! `client/client_compatibility_produce_consume_test` (new clients against old brokers): the
//! verifiable producer and consumer of release A against a 3-broker KRaft cluster of release
//! B, RF3 with `min.insync.replicas=2`, until A's producer has had 1,000 more records
//! acknowledged; every acknowledged record must be consumed with its value. The default run
//! takes one pair (3.9.2 clients, 4.4.0 brokers); the rest of the matrix over 3.8.1, 3.9.2,
//! 4.0.2 and 4.4.0 is `#[ignore]`d (its measured table is in the README). A release that is not
//! installed makes its case report itself skipped with the `./build.sh --kafka` line.

use ducttape_tests::rolling::{start_workload, SETTLE};
use ducttape_tests::{ctx, installed_or_skip, start_kafka, wait_for_more_acks, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

#[rstest]
// rstest gives a case the attributes written just before it.
#[case::clients_3_9_2_brokers_4_4_0("3.9.2", "4.4.0")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_4_0_brokers_3_9_2("4.4.0", "3.9.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_3_8_1_brokers_4_4_0("3.8.1", "4.4.0")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_4_0_brokers_3_8_1("4.4.0", "3.8.1")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_0_2_brokers_4_4_0("4.0.2", "4.4.0")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_4_0_brokers_4_0_2("4.4.0", "4.0.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_3_8_1_brokers_4_0_2("3.8.1", "4.0.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_0_2_brokers_3_8_1("4.0.2", "3.8.1")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_3_9_2_brokers_4_0_2("3.9.2", "4.0.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_4_0_2_brokers_3_9_2("4.0.2", "3.9.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_3_8_1_brokers_3_9_2("3.8.1", "3.9.2")]
#[ignore = "compatibility matrix; run: cargo test -p ducttape-tests --test compatibility_test_new_broker_test -- --ignored"]
#[case::clients_3_9_2_brokers_3_8_1("3.9.2", "3.8.1")]
#[tokio::test]
#[serial(heavy)]
async fn clients_of_one_release_against_brokers_of_another(
    ctx: TestContext,
    #[case] clients: &str,
    #[case] brokers: &str,
) {
    let (Some(clients), Some(brokers)) = (
        installed_or_skip(&ctx, clients),
        installed_or_skip(&ctx, brokers),
    ) else {
        return;
    };
    let cluster = start_kafka(&ctx, Mode::Kraft, 3, brokers.clone())
        .await
        .unwrap();
    let w = start_workload(&ctx, cluster, (&clients, &clients), 1000)
        .await
        .unwrap();
    wait_for_more_acks(&w.producer, 1000, SETTLE).await.unwrap();
    let report = w.finish(&ctx).await.unwrap();
    println!(
        "clients {} → brokers {}: {report}",
        clients.version(),
        brokers.version()
    );
    ctx.record("clients", clients.version());
    ctx.record("brokers", brokers.version());
    assert!(report.is_clean(), "acknowledged records lost: {report}");
    assert!(report.acked >= 1200, "{report}");
}
