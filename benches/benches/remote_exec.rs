//! Criterion benches of the SSH transport against real sshd nodes (the local cluster unless
//! `DUCTTAPE_CLUSTER` says otherwise): sequential latency of `true` on one node, and fan-out
//! throughput of 600 concurrent commands across all nodes.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn remote_exec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cluster = Arc::new(ducttape_benches::cluster_from_args(&[]).expect("cluster"));
    let lease = rt
        .block_on(cluster.lease(cluster.specs().len()))
        .expect("lease");
    let nodes = lease.nodes().to_vec();
    let one = nodes[0].account().clone();
    rt.block_on(one.ssh("true")).expect("warm-up");

    let mut group = c.benchmark_group("remote_exec");
    group.bench_function("sequential_true_one_node", |b| {
        b.to_async(&rt)
            .iter(|| async { one.ssh("true").await.expect("ssh") })
    });
    const FAN_OUT: usize = 600;
    group.throughput(Throughput::Elements(FAN_OUT as u64));
    group.sample_size(20);
    group.bench_function(
        format!("fan_out_{FAN_OUT}_over_{}_nodes", nodes.len()),
        |b| {
            b.to_async(&rt).iter(|| async {
                let runs = (0..FAN_OUT).map(|i| nodes[i % nodes.len()].account().ssh("true"));
                for r in futures::future::join_all(runs).await {
                    r.expect("ssh");
                }
            })
        },
    );
    group.finish();
    rt.block_on(lease.release()).expect("nodes cleaned");
}

criterion_group!(benches, remote_exec);
criterion_main!(benches);
