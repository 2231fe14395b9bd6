#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! The LinkedIn Kafka benchmark as kafkatest ported it (benchmark_test.py): producer throughput
//! with RF1, RF3 async and RF3 sync, three producers, message sizes from 10 B to 100 KB,
//! consumer throughput with one and three consumers, producer and consumer together, and
//! end-to-end latency. The default run is small enough for CI; `kafka_benchmark_full` runs
//! the original sizes (`cargo test kafka_benchmark_full -- --ignored`).

use std::sync::Arc;

use ducttape_services::perf::ClientBuilder;
use ducttape_services::perf::{ConsumerPerformance, EndToEndLatency, ProducerPerformance};
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::{ctx, start_kafka, Mode, Node, TestContext};
use rstest::rstest;
use serde_json::json;
use serial_test::serial;

/// Sizes of one benchmark run.
struct Scale {
    /// Records of 100 bytes per producer run.
    records: u64,
    /// Bytes per run in the message-size sweep.
    sweep_bytes: u64,
    /// Round trips for end-to-end latency.
    latency_messages: u64,
}

const SMALL: Scale = Scale {
    records: 100_000,
    sweep_bytes: 10_000_000,
    latency_messages: 2_000,
};

const FULL: Scale = Scale {
    records: 50_000_000,
    sweep_bytes: 1_000_000_000,
    latency_messages: 10_000,
};

struct Bench<'a> {
    ctx: &'a TestContext,
    kafka: &'a Arc<KafkaService>,
    clients: Vec<Node>,
    rows: Vec<(String, String)>,
}

impl Bench<'_> {
    async fn produce(
        &mut self,
        case: &str,
        topic: &str,
        records: u64,
        size: u32,
        acks: &str,
        producers: usize,
    ) {
        let p = ProducerPerformance::new(topic, records, size)
            .prop("acks", acks)
            .name(&format!("producer-{case}"))
            .build(self.ctx, self.kafka, self.clients[..producers].to_vec());
        p.run().await.unwrap();
        let r = p.aggregate().expect("every producer printed its result");
        assert_eq!(
            r.records,
            records * producers as u64,
            "{case}: every record sent"
        );
        self.ctx.record(case, serde_json::to_value(&r).unwrap());
        self.rows.push((
            case.to_string(),
            format!(
                "{:>12.0} rec/s {:>8.2} MB/s  p99 {:>7.1} ms",
                r.records_per_sec, r.mb_per_sec, r.p99_ms
            ),
        ));
    }

    async fn consume(&mut self, case: &str, topic: &str, records: u64, consumers: usize) {
        let c = ConsumerPerformance::new(topic, records / consumers as u64)
            .group(&format!("bench-{case}"))
            .name(&format!("consumer-{case}"))
            .build(self.ctx, self.kafka, self.clients[..consumers].to_vec());
        c.run().await.unwrap();
        let r = c.aggregate().expect("every consumer printed its result");
        assert!(
            r.records_consumed >= records / consumers as u64 * consumers as u64,
            "{case}: {r:?}"
        );
        self.ctx.record(case, serde_json::to_value(&r).unwrap());
        self.rows.push((
            case.to_string(),
            format!(
                "{:>12.0} rec/s {:>8.2} MB/s",
                r.records_per_sec, r.mb_per_sec
            ),
        ));
    }
}

async fn benchmark(ctx: TestContext, scale: Scale) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    for (name, rf) in [("test-rf1", 1), ("test-rf3", 3)] {
        kafka
            .create_topic(&TopicSpec::new(name).partitions(6).replication_factor(rf))
            .await
            .unwrap();
    }
    let clients = ctx.lease(3).await.unwrap();
    let mut b = Bench {
        ctx: &ctx,
        kafka,
        clients,
        rows: Vec::new(),
    };

    b.produce("producer_rf1", "test-rf1", scale.records, 100, "1", 1)
        .await;
    b.produce("producer_rf3_async", "test-rf3", scale.records, 100, "1", 1)
        .await;
    b.produce("producer_rf3_sync", "test-rf3", scale.records, 100, "-1", 1)
        .await;
    b.produce(
        "three_producers_rf3_async",
        "test-rf3",
        scale.records,
        100,
        "1",
        3,
    )
    .await;
    for size in [10u32, 100, 1_000, 10_000, 100_000] {
        let records = (scale.sweep_bytes / u64::from(size)).min(scale.records);
        b.produce(
            &format!("message_size_{size}"),
            "test-rf1",
            records,
            size,
            "1",
            1,
        )
        .await;
    }
    b.consume("consumer_one", "test-rf3", scale.records, 1)
        .await;
    b.consume("consumers_three", "test-rf3", scale.records, 3)
        .await;

    // Producer and consumer together on a fresh topic.
    kafka
        .create_topic(
            &TopicSpec::new("test-together")
                .partitions(6)
                .replication_factor(3),
        )
        .await
        .unwrap();
    let producer = ProducerPerformance::new("test-together", scale.records, 100)
        .prop("acks", 1)
        .name("producer-together")
        .build(&ctx, kafka, vec![b.clients[0].clone()]);
    let consumer = ConsumerPerformance::new("test-together", scale.records)
        .name("consumer-together")
        .build(&ctx, kafka, vec![b.clients[1].clone()]);
    ducttape_services::run_parallel(&[producer.as_ref(), consumer.as_ref()])
        .await
        .unwrap();
    producer.wait().await.unwrap();
    consumer.wait().await.unwrap();
    let (p, c) = (producer.aggregate().unwrap(), consumer.aggregate().unwrap());
    ctx.record(
        "producer_and_consumer",
        json!({ "producer": p, "consumer": c }),
    );
    b.rows.push((
        "producer_and_consumer".into(),
        format!(
            "{:>12.0} rec/s produced, {:.0} rec/s consumed",
            p.records_per_sec, c.records_per_sec
        ),
    ));

    kafka
        .create_topic(
            &TopicSpec::new("test-latency")
                .partitions(1)
                .replication_factor(3),
        )
        .await
        .unwrap();
    let e2e = EndToEndLatency::new("test-latency", scale.latency_messages, 100).build(
        &ctx,
        kafka,
        vec![b.clients[0].clone()],
    );
    e2e.run().await.unwrap();
    let l = e2e.results().pop().expect("end-to-end latency result");
    ctx.record("end_to_end_latency", serde_json::to_value(&l).unwrap());
    b.rows.push((
        "end_to_end_latency".into(),
        format!(
            "avg {:.2} ms  p50 {} ms  p99 {} ms  p99.9 {} ms",
            l.avg_ms, l.p50_ms, l.p99_ms, l.p999_ms
        ),
    ));

    println!(
        "\nKafka benchmark ({} brokers, KRaft, {})",
        kafka.brokers().len(),
        kafka.version().version()
    );
    for (case, numbers) in &b.rows {
        println!("  {case:<28} {numbers}");
    }
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn kafka_benchmark(ctx: TestContext) {
    benchmark(ctx, SMALL).await;
}

#[rstest]
#[tokio::test]
#[ignore = "full size: hours on a real cluster"]
#[serial(heavy)]
async fn kafka_benchmark_full(ctx: TestContext) {
    benchmark(ctx, FULL).await;
}
