//! Bad inputs get clear errors, never hangs: a missing install, a broken broker config.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::time::Duration;

use ducttape_core::remote::LogWaitError;
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceError, ServiceExt};
use ducttape_tests::{ctx, TestContext};
use rstest::rstest;
use serial_test::serial;

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn missing_install_names_the_path_and_build_sh(ctx: TestContext) {
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes)
        .version(KafkaVersion::new("0.0.1-absent"))
        .build(&ctx)
        .unwrap();
    let err = kafka.start().await.unwrap_err();
    assert!(matches!(err, ServiceError::MissingInstall { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("/opt/kafka-0.0.1-absent/libs"), "{msg}");
    assert!(msg.contains("./build.sh"), "{msg}");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn broken_broker_config_fails_with_kafkas_complaint(ctx: TestContext) {
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes)
        .kraft_combined(1)
        .config("num.network.threads", "not-a-number")
        .build(&ctx)
        .unwrap();
    let msg = kafka.start().await.unwrap_err().to_string();
    // In KRaft mode the storage format step reads the config first and refuses it.
    assert!(msg.contains(kafka.nodes()[0].name()), "{msg}");
    assert!(
        msg.contains("Invalid value not-a-number for configuration num.network.threads"),
        "{msg}"
    );
    assert!(msg.contains("exit status 1"), "{msg}");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn broker_dying_at_start_is_reported_with_its_log_tail(ctx: TestContext) {
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes)
        .kraft_combined(1)
        .heap("1k") // the JVM refuses to start
        .start_timeout(Duration::from_secs(300))
        .build(&ctx)
        .unwrap();
    let err = kafka.start().await.unwrap_err();
    // Reported as dead with its log, not after waiting out the 300 s timeout.
    match &err {
        ServiceError::Died { node, log_tail, .. } => {
            assert_eq!(node, kafka.nodes()[0].name());
            assert!(log_tail.contains("heap"), "log tail: {log_tail}");
        }
        other => panic!("expected the broker to be reported dead, got: {other}"),
    }
}

/// The start timeout bounds a start's quiet time, not its length (a broker loading its logs
/// on a loaded machine goes on while it shows progress), and a start that stops moving on
/// still fails: a broker restarted while its only controller is down gets through its JVM's
/// start and its metadata log's loading, then waits for the controller with nothing but
/// connection warnings, and fails once the timeout passes without a step of its start.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_broker_start_that_stops_moving_on_fails_after_the_start_timeout(ctx: TestContext) {
    let nodes = ctx.lease(2).await.unwrap();
    let quiet = Duration::from_secs(20);
    let kafka = KafkaService::builder(nodes)
        .kraft_dedicated(1)
        .start_timeout(quiet)
        .build(&ctx)
        .unwrap();
    kafka.start().await.unwrap();
    let broker = kafka.brokers()[0].clone();
    let controller = kafka.nodes()[1].clone();
    kafka.stop_node(&controller, false).await.unwrap();
    kafka.stop_node(&broker, false).await.unwrap();
    let started = std::time::Instant::now();
    let err = kafka.start_node(&broker).await.unwrap_err();
    let waited = started.elapsed();
    println!("after {waited:?}: {err}");
    match &err {
        ServiceError::NotReady { source, .. } => match source.as_ref() {
            LogWaitError::Stalled(stall) => {
                assert_eq!(stall.node, broker.name());
                assert_eq!(stall.quiet, quiet);
                // It moved on at first (its metadata log loaded), then stopped.
                assert!(stall.progress_lines > 0, "{err}");
            }
            other => panic!("expected a stalled start, got: {other}"),
        },
        other => panic!("expected a stalled start, got: {other}"),
    }
    assert!(waited >= quiet, "{waited:?}");
}

#[rstest]
#[tokio::test]
async fn zookeeper_mode_on_kafka_4_is_refused(ctx: TestContext) {
    let mut nodes = ctx.lease(2).await.unwrap();
    let zk = ducttape_services::ZookeeperService::new(&ctx, vec![nodes.remove(0)]).unwrap();
    let err = KafkaService::builder(nodes)
        .version(KafkaVersion::V4)
        .zookeeper(&zk)
        .build(&ctx)
        .err()
        .expect("4.x has no ZooKeeper mode");
    assert!(err.to_string().contains("no ZooKeeper mode"), "{err}");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_failing_perf_worker_fails_wait_with_its_output(ctx: TestContext) {
    use ducttape_services::perf::{ClientBuilder, ProducerPerformance};
    let nodes = ctx.lease(2).await.unwrap();
    // The brokers need not run: the producer rejects its config before connecting.
    let kafka = KafkaService::builder(vec![nodes[0].clone()])
        .build(&ctx)
        .unwrap();
    let producer = ProducerPerformance::builder(vec![nodes[1].clone()], &kafka, "t", 10, 10)
        .prop("acks", "maybe")
        .build(&ctx)
        .unwrap();
    producer.start().await.unwrap();
    let err = producer.wait().await.unwrap_err();
    assert_worker_failed(&err, &nodes[1], "exited with status 1", "acks");
    assert!(producer.results().is_empty());
}

/// A wait for more acknowledgements from a producer that has died ends at once with the
/// producer's node, exit status and output, not at its timeout with "timed out" (the
/// verifiable producer here refuses `--acks maybe` and exits; no broker is needed). Were the
/// wait blind to the dead producer, it would end after its 120 s as a timeout, which the match
/// below refuses.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_wait_for_acks_from_a_dead_producer_fails_with_its_exit(ctx: TestContext) {
    use ducttape_services::verifiable::VerifiableProducer;
    let nodes = ctx.lease(2).await.unwrap();
    let kafka = KafkaService::builder(vec![nodes[0].clone()])
        .build(&ctx)
        .unwrap();
    let producer = VerifiableProducer::builder(vec![nodes[1].clone()], &kafka, "t")
        .acks("maybe")
        .build(&ctx)
        .unwrap();
    producer.start().await.unwrap();
    let err = ducttape_tests::wait_for_more_acks(&producer, 10, Duration::from_secs(120))
        .await
        .unwrap_err();
    assert_worker_failed(&err, &nodes[1], "ended on its own (exit status", "acks");
    // Its stop reports the same failure (a worker that ended on its own must have succeeded).
    assert!(producer.stop().await.is_err());
}

/// A worker declares its install like a service: a client version that is not installed fails
/// the start naming the system, the path and `./build.sh` — not a `java` error at `wait()`.
#[rstest]
#[tokio::test]
async fn a_worker_without_its_install_names_the_system_and_build_sh(ctx: TestContext) {
    use ducttape_services::perf::{ClientBuilder, ProducerPerformance};
    use ducttape_services::verifiable::VerifiableConsumer;
    let nodes = ctx.lease(2).await.unwrap();
    // The brokers need not run: the install is checked before anything starts.
    let kafka = KafkaService::builder(vec![nodes[0].clone()])
        .build(&ctx)
        .unwrap();
    let absent = KafkaVersion::new("0.0.1-absent");
    let producer = ProducerPerformance::builder(vec![nodes[1].clone()], &kafka, "t", 10, 10)
        .version(absent.clone())
        .prop("acks", "all")
        .build(&ctx)
        .unwrap();
    let consumer = VerifiableConsumer::builder(vec![nodes[1].clone()], &kafka, "t", "g")
        .version(absent)
        .build(&ctx)
        .unwrap();
    for err in [
        producer.start().await.unwrap_err(),
        consumer.start().await.unwrap_err(),
    ] {
        match &err {
            ServiceError::MissingInstall {
                node, what, path, ..
            } => {
                assert_eq!(node, nodes[1].name());
                assert_eq!(what, "Kafka 0.0.1-absent");
                assert_eq!(path, "/opt/kafka-0.0.1-absent/libs");
            }
            other => panic!("expected the missing install, got: {other}"),
        }
        assert!(err.to_string().contains("./build.sh"), "{err}");
    }
    // Nothing was written for a worker that could not start.
    let dir = nodes[1]
        .account()
        .ssh_output("ls /mnt/producer-performance 2>&1; true")
        .await
        .unwrap();
    assert!(dir.contains("No such file"), "{dir}");
}

/// A worker on no node would pass every wait without running: `build` refuses it, as a
/// service's does.
#[rstest]
#[tokio::test]
async fn a_worker_on_no_node_is_refused_at_build(ctx: TestContext) {
    use ducttape_services::verifiable::VerifiableProducer;
    let nodes = ctx.lease(1).await.unwrap();
    // Never started: only its bootstrap servers and version are read.
    let kafka = KafkaService::builder(nodes).build(&ctx).unwrap();
    let err = VerifiableProducer::builder(Vec::new(), &kafka, "t")
        .build(&ctx)
        .err()
        .expect("a worker needs a node");
    assert!(matches!(err, ServiceError::Usage { .. }), "{err}");
    assert!(err.to_string().contains("at least one node"), "{err}");
    let one = VerifiableProducer::builder(kafka.nodes().to_vec(), &kafka, "t").build(&ctx);
    assert!(one.is_ok(), "{:?}", one.err());
}

/// `err` is a worker's failure on `on`, its detail containing `detail` and its log tail `tail`.
fn assert_worker_failed(err: &ServiceError, on: &ducttape_tests::Node, detail: &str, tail: &str) {
    match err {
        ServiceError::WorkerFailed {
            node,
            detail: said,
            log_tail,
            ..
        } => {
            assert_eq!(node, on.name());
            assert!(said.contains(detail), "{err}");
            assert!(log_tail.contains(tail), "{err}");
        }
        other => panic!("expected the worker's failure, got: {other}"),
    }
}
