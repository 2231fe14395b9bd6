#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! The JVMs the framework starts from a Kafka install map the class-data sharing archive
//! `build.sh` made for it (`<home>/ducttape.jsa`: the classes already parsed and verified, so a
//! start costs less CPU): ZooKeeper and a broker in ZooKeeper mode (3.9), a KRaft broker (4.4).
//! The check reads the JVM's own memory map, and it fails when an archive does not fit its
//! install: then the JVM runs without it (a tool's stdout still carries only its results).
//! The same JVMs run with the options Kafka's own start scripts give them (read from the
//! running JVM's command line; the check names an option a JVM lacks).

use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::ExitStatus;
use ducttape_core::wait_until;
use ducttape_services::{KafkaVersion, Service, CDS_ARCHIVE, JVM_PERFORMANCE_OPTS};
use ducttape_tests::{ctx, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

/// The JVM a service started as `pid` on `node`. A spawned command runs under `sh` (the pid is
/// the shell's; the JVM is its child), so the JVM is `pid` or a child of it.
async fn jvm_of(node: &Node, pid: u32) -> String {
    let jvm = node
        .account()
        .ssh_output(&format!(
            "for p in {pid} $(pgrep -P {pid}); do \
             [ \"$(cat /proc/$p/comm)\" = java ] && echo $p; done"
        ))
        .await
        .unwrap();
    let jvm = jvm.trim().to_string();
    assert!(
        !jvm.is_empty() && !jvm.contains('\n'),
        "one JVM under pid {pid}: {jvm:?}"
    );
    jvm
}

/// Whether the JVM a service started as `pid` on `node` has the archive mapped.
async fn maps_archive(node: &Node, pid: u32) -> bool {
    let jvm = jvm_of(node, pid).await;
    let status = node
        .account()
        .ssh_status(&format!("grep -q /{CDS_ARCHIVE} /proc/{jvm}/maps"))
        .await
        .unwrap();
    status == Some(0)
}

/// The options of `wanted` missing from the command line the JVM started as `pid` on `node`
/// really runs with (its `/proc/<pid>/cmdline`, one word per NUL).
async fn missing_options(node: &Node, pid: u32, wanted: &[&str]) -> Vec<String> {
    let jvm = jvm_of(node, pid).await;
    let words = node
        .account()
        .ssh_output(&format!("tr '\\0' '\\n' < /proc/{jvm}/cmdline"))
        .await
        .unwrap();
    let words: Vec<&str> = words.lines().collect();
    wanted
        .iter()
        .filter(|w| !words.contains(w))
        .map(|w| w.to_string())
        .collect()
}

/// Every pid `service` runs on each of its nodes maps the archive.
async fn all_map_archive(service: &dyn Service) -> Vec<(String, u32, bool)> {
    let mut seen = Vec::new();
    for node in service.nodes() {
        let pids = service.pids(node).await.unwrap();
        assert!(
            !pids.is_empty(),
            "{} runs nothing on {}",
            service.name(),
            node.name()
        );
        for pid in pids {
            seen.push((node.name().to_string(), pid, maps_archive(node, pid).await));
        }
    }
    seen
}

#[rstest]
#[case::zookeeper_3_9(Mode::Zookeeper, KafkaVersion::V3_9)]
#[case::kraft_4_4(Mode::Kraft, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
async fn kafka_jvms_map_the_install_archive(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    let cluster = start_kafka(&ctx, mode, 1, version).await.unwrap();
    let mut services: Vec<&dyn Service> = vec![cluster.kafka.as_ref()];
    if let Some(zk) = &cluster.zookeeper {
        services.push(zk.as_ref());
    }
    for service in services {
        let seen = all_map_archive(service).await;
        assert!(
            seen.iter().all(|(_, _, mapped)| *mapped),
            "{}: every JVM maps {CDS_ARCHIVE} (node, pid, mapped): {seen:?}",
            service.name()
        );
        // And runs with the options Kafka's own start scripts give it: kafka-run-class.sh's
        // performance options, the heap fixed as kafka-server-start.sh (1 GiB) and
        // zookeeper-server-start.sh (512 MiB) fix it.
        let heap = if service.name() == "kafka" {
            "1g"
        } else {
            "512m"
        };
        let (xmx, xms) = (format!("-Xmx{heap}"), format!("-Xms{heap}"));
        let mut wanted = JVM_PERFORMANCE_OPTS.to_vec();
        wanted.extend([xmx.as_str(), xms.as_str()]);
        for node in service.nodes() {
            for pid in service.pids(node).await.unwrap() {
                let missing = missing_options(node, pid, &wanted).await;
                assert!(
                    missing.is_empty(),
                    "{} on {}: the JVM runs without {missing:?}",
                    service.name(),
                    node.name()
                );
            }
        }
    }
}

/// An install whose archive was made for other jars (4.4's archive beside 3.9's libs): the JVM
/// runs without it (the JDK checks the jars the archive was made from), the check says so, and a
/// tool's stdout still carries only its result.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn an_archive_that_does_not_fit_is_not_mapped_and_the_check_says_so(ctx: TestContext) {
    let node = ctx.lease(1).await.unwrap().remove(0);
    let account = node.account();
    let home = format!("/tmp/ducttape-cds-misfit-{}", std::process::id());
    account
        .ssh(&format!(
            "rm -rf {home} && mkdir -p {home} && ln -s /opt/kafka-3.9.2/libs {home}/libs && \
             ln -s /opt/kafka-3.9.2/config {home}/config && \
             cp /opt/kafka-4.4.0/{CDS_ARCHIVE} {home}/{CDS_ARCHIVE}"
        ))
        .await
        .unwrap();
    let misfit = KafkaVersion::at("3.9.2", &home);

    let version = misfit
        .tool("org.apache.kafka.tools.TopicCommand")
        .arg("--version");
    let out = account
        .run(&version.render(), None, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(out.status, ExitStatus::Code(0), "{out:?}");
    let stdout = out.stdout_text();
    assert!(
        stdout.trim().starts_with("3.9.2"),
        "stdout carries only the tool's result: {stdout:?}"
    );

    // A long-running JVM (ZooKeeper) from the misfit install: not mapped, and the check says so.
    account
        .create_file(
            &format!("{home}/zoo.cfg"),
            format!("dataDir={home}/zk\nclientPort=2181\nadmin.enableServer=false\n").as_bytes(),
        )
        .await
        .unwrap();
    let zk = misfit
        .java("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(format!("{home}/zoo.cfg"));
    // Starts ZooKeeper from the misfit install; returns whether its JVM maps the archive.
    let run_zk = || async {
        let pid = account
            .spawn(
                &zk.render(),
                &format!("{home}/zk.log"),
                &format!("{home}/zk.pid"),
            )
            .await
            .unwrap();
        account
            .wait_for_port(2181, Duration::from_secs(60))
            .await
            .unwrap();
        let mapped = maps_archive(&node, pid).await;
        // The options check on a JVM started without a fixed heap: it names what is missing.
        let missing = missing_options(&node, pid, &["-XX:MaxGCPauseMillis=20", "-Xms512m"]).await;
        account.signal_group(pid, "KILL").await.unwrap();
        assert_eq!(
            missing,
            ["-Xms512m"],
            "the check names the option the JVM lacks"
        );
        wait_until(
            "the misfit install's ZooKeeper is gone",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async { account.alive(pid).await.map(|alive| !alive) },
        )
        .await
        .unwrap();
        mapped
    };
    assert!(
        !run_zk().await,
        "a JVM whose install's archive does not fit runs without it"
    );
    // The same install with the archive made for its own jars: the same check passes.
    account
        .ssh(&format!(
            "cp /opt/kafka-3.9.2/{CDS_ARCHIVE} {home}/{CDS_ARCHIVE}"
        ))
        .await
        .unwrap();
    assert!(run_zk().await, "with its own archive the same JVM maps it");
    account.ssh(&format!("rm -rf {home}")).await.unwrap();
}
