#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! The LinkedIn Kafka benchmark as kafkatest ported it (benchmark_test.py): producer throughput
//! with RF1, RF3 async and RF3 sync, three producers, message sizes from 10 B to 100 KB,
//! consumer throughput with one and three consumers, producer and consumer together, and
//! end-to-end latency — each case a test of its own (its own 3-broker cluster, KRaft unless
//! `DUCTTAPE_BENCH_MODE=zookeeper`; report
//! row and `summary.json`), so one case can be run by name and nextest can run them side by side:
//! `cargo test -p ducttape-tests --test kafka_benchmark producer_rf3_sync`.
//!
//! Every case pays for a cluster of its own (a bring-up of ≈ 4 s on a quiet machine), so
//! the default run, which CI makes, runs four cases that each take a path of their own —
//! acks=all on RF3, several producers, several consumers, end-to-end latency — and `#[ignore]`s
//! those that differ from one of them only in a number (RF1, acks=1, record sizes, one
//! consumer) or combine their tools (producer and consumer at once); `-- --include-ignored`
//! runs all of them.
//!
//! Sizes come from the environment, with small defaults for CI (see [`Sizes`]); kafkatest's own
//! sizes need no code change:
//!
//! ```sh
//! DUCTTAPE_BENCH_DATA_BYTES=134217728 DUCTTAPE_BENCH_RECORDS=10000000 \
//! DUCTTAPE_BENCH_LATENCY_RECORDS=10000 cargo test -p ducttape-tests --test kafka_benchmark
//! ```

use std::sync::Arc;

use ducttape_services::perf::ClientBuilder;
use ducttape_services::perf::{ConsumerPerformance, EndToEndLatency, ProducerPerformance};
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::{ctx, start_kafka, Mode, Node, TestContext};
use rstest::rstest;
use serde_json::json;
use serial_test::serial;

/// Sizes of the benchmark, read from the environment.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// `DUCTTAPE_BENCH_DATA_BYTES`: bytes each producer sends in the producer-throughput cases
    /// (records = bytes ÷ record size; kafkatest's `target_data_size`, 128 MiB = 134217728).
    data_bytes: u64,
    /// `DUCTTAPE_BENCH_RECORDS`: records produced and consumed in the consumer cases and in
    /// producer-and-consumer (kafkatest: 10,000,000).
    records: u64,
    /// `DUCTTAPE_BENCH_RECORD_SIZE`: bytes per record where the case does not sweep sizes
    /// (kafkatest's `DEFAULT_RECORD_SIZE`, 100).
    record_size: u32,
    /// `DUCTTAPE_BENCH_LATENCY_RECORDS`: round trips for end-to-end latency (kafkatest: 10,000).
    latency_records: u64,
}

impl Sizes {
    /// CI's defaults: a few seconds of work per case on 2 cores.
    const CI: Sizes = Sizes {
        data_bytes: 2_000_000,
        records: 50_000,
        record_size: 100,
        latency_records: 1_000,
    };

    fn from_env() -> Sizes {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
                Err(_) => default,
            }
        }
        Sizes {
            data_bytes: var("DUCTTAPE_BENCH_DATA_BYTES", Self::CI.data_bytes),
            records: var("DUCTTAPE_BENCH_RECORDS", Self::CI.records),
            record_size: var("DUCTTAPE_BENCH_RECORD_SIZE", Self::CI.record_size),
            latency_records: var("DUCTTAPE_BENCH_LATENCY_RECORDS", Self::CI.latency_records),
        }
    }

    /// Records of `size` bytes making up [`data_bytes`](Self::data_bytes) (at least one).
    fn records_of(&self, size: u32) -> u64 {
        (self.data_bytes / u64::from(size)).max(1)
    }
}

/// `DUCTTAPE_BENCH_MODE`: `kraft` (the default) or `zookeeper` (1 ZooKeeper node, as kafkatest's
/// benchmark ran on 3.x).
fn mode_from_env() -> Mode {
    match std::env::var("DUCTTAPE_BENCH_MODE").as_deref() {
        Err(_) | Ok("") | Ok("kraft") => Mode::Kraft,
        Ok("zookeeper") => Mode::Zookeeper,
        Ok(other) => panic!("DUCTTAPE_BENCH_MODE={other:?}: expected `kraft` or `zookeeper`"),
    }
}

/// One case of the benchmark.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// Producers to a topic: its replication factor, `acks`, how many producers, the record
    /// size (`None`: [`Sizes::record_size`]).
    Produce {
        rf: u32,
        acks: &'static str,
        producers: usize,
        size: Option<u32>,
    },
    /// Records produced to an RF3 topic, then read by this many consumers.
    Consume { consumers: usize },
    /// A producer and a consumer on one topic at the same time.
    ProducerAndConsumer,
    /// End-to-end latency on a one-partition RF3 topic.
    EndToEndLatency,
}

const fn produce(rf: u32, acks: &'static str, producers: usize) -> Case {
    Case::Produce {
        rf,
        acks,
        producers,
        size: None,
    }
}

const fn message_size(size: u32) -> Case {
    Case::Produce {
        rf: 1,
        acks: "1",
        producers: 1,
        size: Some(size),
    }
}

/// A topic of 6 partitions (kafkatest's) with replication factor `rf`.
async fn topic(kafka: &KafkaService, name: &str, partitions: u32, rf: u32) -> String {
    kafka
        .create_topic(
            &TopicSpec::new(name)
                .partitions(partitions)
                .replication_factor(rf),
        )
        .await
        .unwrap();
    name.to_string()
}

/// A producer configured as kafkatest's benchmark configures each of its producers
/// (`benchmark_test.py`: `batch.size` 8 KiB, `buffer.memory` 64 MiB; without them ours sent
/// 16 KiB batches and ran ≈ 1.4× faster than kafkatest's on the same brokers — not the same work).
fn kafkatest_producer(topic: &str, records: u64, size: u32) -> ProducerPerformance {
    ProducerPerformance::new(topic, records, size)
        .prop("batch.size", 8 * 1024)
        .prop("buffer.memory", 64 * 1024 * 1024)
}

/// Runs `producers` ProducerPerformance workers of `records` each; asserts every record was
/// sent and returns the summed result.
async fn run_producers(
    ctx: &TestContext,
    kafka: &Arc<KafkaService>,
    clients: &[Node],
    topic: &str,
    records: u64,
    size: u32,
    acks: &str,
) -> ducttape_services::perf::ProducerPerfResult {
    let p = kafkatest_producer(topic, records, size)
        .prop("acks", acks)
        .build(ctx, kafka, clients.to_vec());
    p.run().await.unwrap();
    let r = p.aggregate().expect("every producer printed its result");
    assert_eq!(
        r.records,
        records * clients.len() as u64,
        "every record sent"
    );
    r
}

#[rstest]
// rstest gives a case the attributes written just before it.
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::producer_rf1(produce(1, "1", 1))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::producer_rf3_async(produce(3, "1", 1))]
#[case::producer_rf3_sync(produce(3, "-1", 1))]
#[case::three_producers_rf3_async(produce(3, "1", 3))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::message_size_10(message_size(10))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::message_size_100(message_size(100))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::message_size_1000(message_size(1_000))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::message_size_10000(message_size(10_000))]
#[ignore = "CI: the same path as producer_rf3_sync; --include-ignored runs it"]
#[case::message_size_100000(message_size(100_000))]
#[ignore = "CI: the same path as consumers_three; --include-ignored runs it"]
#[case::consumer_one(Case::Consume { consumers: 1 })]
#[case::consumers_three(Case::Consume { consumers: 3 })]
#[ignore = "CI: the tools of three_producers_rf3_async and consumers_three; --include-ignored runs it"]
#[case::producer_and_consumer(Case::ProducerAndConsumer)]
#[case::end_to_end_latency(Case::EndToEndLatency)]
#[tokio::test]
#[serial(heavy)]
async fn kafka_benchmark(ctx: TestContext, #[case] case: Case) {
    let sizes = Sizes::from_env();
    ctx.record(
        "sizes",
        json!({
            "data_bytes": sizes.data_bytes,
            "records": sizes.records,
            "record_size": sizes.record_size,
            "latency_records": sizes.latency_records,
        }),
    );
    let mode = mode_from_env();
    ctx.record("mode", json!(format!("{mode:?}")));
    let cluster = start_kafka(&ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    let clients = ctx
        .lease(match case {
            Case::Produce { producers, .. } => producers,
            Case::Consume { consumers } => consumers,
            Case::ProducerAndConsumer => 2,
            Case::EndToEndLatency => 1,
        })
        .await
        .unwrap();

    let (result, line) = match case {
        Case::Produce {
            rf,
            acks,
            producers,
            size,
        } => {
            let t = topic(kafka, &format!("test-rf{rf}"), 6, rf).await;
            let size = size.unwrap_or(sizes.record_size);
            let records = sizes.records_of(size);
            let r =
                run_producers(&ctx, kafka, &clients[..producers], &t, records, size, acks).await;
            let line = format!(
                "{records} × {size} B × {producers}: {:.0} rec/s {:.2} MB/s p99 {:.1} ms",
                r.records_per_sec, r.mb_per_sec, r.p99_ms
            );
            (serde_json::to_value(&r).unwrap(), line)
        }
        Case::Consume { consumers } => {
            let t = topic(kafka, "test-rf3", 6, 3).await;
            let records = sizes.records;
            // Each consumer of a group reads its share from the partitions it is given; the
            // producer fills partitions unevenly (sticky batches), so with several consumers
            // the topic holds twice what they read, or one of them waits for records that
            // never come (a minute here, until its timeout).
            let produced = if consumers > 1 { 2 * records } else { records };
            run_producers(
                &ctx,
                kafka,
                &clients[..1],
                &t,
                produced,
                sizes.record_size,
                "1",
            )
            .await;
            let each = records / consumers as u64;
            let c = ConsumerPerformance::new(&t, each).group("bench").build(
                &ctx,
                kafka,
                clients.clone(),
            );
            c.run().await.unwrap();
            let r = c.aggregate().expect("every consumer printed its result");
            assert!(r.records_consumed >= each * consumers as u64, "{r:?}");
            let line = format!(
                "{records} records, {consumers} consumer(s): {:.0} rec/s {:.2} MB/s",
                r.records_per_sec, r.mb_per_sec
            );
            (serde_json::to_value(&r).unwrap(), line)
        }
        Case::ProducerAndConsumer => {
            let t = topic(kafka, "test-together", 6, 3).await;
            let producer = kafkatest_producer(&t, sizes.records, sizes.record_size)
                .prop("acks", 1)
                .build(&ctx, kafka, vec![clients[0].clone()]);
            let consumer = ConsumerPerformance::new(&t, sizes.records).build(
                &ctx,
                kafka,
                vec![clients[1].clone()],
            );
            ducttape_services::run_parallel(&[producer.as_ref(), consumer.as_ref()])
                .await
                .unwrap();
            producer.wait().await.unwrap();
            consumer.wait().await.unwrap();
            let (p, c) = (producer.aggregate().unwrap(), consumer.aggregate().unwrap());
            assert_eq!(p.records, sizes.records, "every record sent");
            assert!(c.records_consumed >= sizes.records, "{c:?}");
            let line = format!(
                "{} records: {:.0} rec/s produced, {:.0} rec/s consumed",
                sizes.records, p.records_per_sec, c.records_per_sec
            );
            (json!({ "producer": p, "consumer": c }), line)
        }
        Case::EndToEndLatency => {
            let t = topic(kafka, "test-latency", 1, 3).await;
            let e2e = EndToEndLatency::new(&t, sizes.latency_records, sizes.record_size).build(
                &ctx,
                kafka,
                clients.clone(),
            );
            e2e.run().await.unwrap();
            let l = e2e.results().pop().expect("end-to-end latency result");
            let line = format!(
                "{} round trips: avg {:.2} ms p50 {} ms p99 {} ms p99.9 {} ms",
                sizes.latency_records, l.avg_ms, l.p50_ms, l.p99_ms, l.p999_ms
            );
            (serde_json::to_value(&l).unwrap(), line)
        }
    };
    ctx.record("result", result);
    println!(
        "Kafka benchmark {} ({} brokers, {mode:?}, {}): {line}",
        ctx.name(),
        kafka.brokers().len(),
        kafka.version().version()
    );
}

#[test]
fn sizes_default_to_ci_and_scale_by_record_size() {
    let ci = Sizes::CI;
    assert_eq!(ci.records_of(100), 20_000);
    assert_eq!(ci.records_of(10), 200_000);
    assert_eq!(ci.records_of(100_000), 20);
    assert_eq!(ci.records_of(u32::MAX), 1, "at least one record");
    let kafkatest = Sizes {
        data_bytes: 128 * 1024 * 1024,
        ..ci
    };
    // kafkatest's test_producer_throughput: 1,342,177 records of 100 B.
    assert_eq!(kafkatest.records_of(100), 1_342_177);
}
