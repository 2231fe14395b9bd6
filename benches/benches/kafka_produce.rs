#![allow(clippy::expect_used, clippy::unwrap_used)] // bench setup: a failure ends the bench
//! Producer throughput of the Kafka under test, against a 1-broker KRaft cluster on the local
//! cluster. Each sample is one `ProducerPerformance` run; the time reported to criterion is the
//! tool's own measurement (records / records-per-second), so JVM start-up does not count.
//!
//! `cargo bench -p ducttape-benches --bench kafka_produce -- --save-baseline before`, change
//! the Kafka build (or `DUCTTAPE_BENCH_KAFKA=4.4.0`), then `-- --baseline before` flags a
//! regression.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ducttape_core::TestContext;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::perf::ProducerPerformance;
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};

const RECORDS: u64 = 200_000;
const RECORD_SIZE: u32 = 100;

fn kafka_produce(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let version = std::env::var("DUCTTAPE_BENCH_KAFKA")
        .map_or(KafkaVersion::DEFAULT, |v| KafkaVersion::new(&v));
    let ctx = TestContext::new("benches::kafka_produce").unwrap();
    let (kafka, client) = rt.block_on(async {
        let mut nodes = ctx.lease(2).await.unwrap();
        let client = nodes.pop().unwrap();
        let kafka = KafkaService::builder(nodes)
            .kraft_combined(1)
            .version(version)
            .build(&ctx)
            .unwrap();
        kafka.start().await.unwrap();
        kafka
            .create_topic(&TopicSpec::new("bench").partitions(6))
            .await
            .unwrap();
        (kafka, client)
    });

    let mut group = c.benchmark_group("kafka_produce");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function(
        format!(
            "{RECORDS}x{RECORD_SIZE}B_acks1_{}",
            kafka.version().version()
        ),
        |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (ctx, kafka, client) = (&ctx, &kafka, &client);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let p = ProducerPerformance::builder(
                            vec![client.clone()],
                            kafka,
                            "bench",
                            RECORDS,
                            RECORD_SIZE,
                        )
                        .prop("acks", 1)
                        .build(ctx)
                        .unwrap();
                        p.run().await.unwrap();
                        let r = p.aggregate().expect("producer result");
                        total += Duration::from_secs_f64(r.records as f64 / r.records_per_sec);
                    }
                    total
                }
            })
        },
    );
    group.finish();
    rt.block_on(ctx.finish());
}

criterion_group!(benches, kafka_produce);
criterion_main!(benches);
