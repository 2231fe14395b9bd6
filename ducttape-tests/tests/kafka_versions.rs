//! The Kafka under test as a value: an extra release installed with `./build.sh --kafka`, and
//! the user's own build (`DUCTTAPE_KAFKA_HOME`'s three layouts: a source tree after
//! `./gradlew jar`, a release directory, a `.tgz`). Each broker start is checked by the version
//! the broker itself logs, not by the path it was started from.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::path::PathBuf;

use ducttape_services::kafka::{ConfigChange, KafkaServiceError, UpgradeStep};
use ducttape_services::kafka_home::{self, Layout};
use ducttape_services::{
    KafkaService, KafkaVersion, KafkaVersionError, Service, ServiceError, ServiceExt, TopicSpec,
};
use ducttape_tests::builds::gradle_tree;
use ducttape_tests::{consume_values, ctx, installed_or_skip, produce_acked, TestContext};
use rstest::rstest;
use serial_test::serial;

/// The extra release this file starts: not among build.sh's defaults, so it is there only after
/// `./build.sh --kafka 4.0.2` (or DUCTTAPE_KAFKA_VERSIONS="4.0.2").
const EXTRA: &str = "4.0.2";

/// One KRaft broker on `version`: some records through it, and the version it logged.
async fn one_broker_round_trip(ctx: &TestContext, version: KafkaVersion) -> String {
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes)
        .version(version)
        .kraft_combined(1)
        .build(ctx)
        .unwrap();
    kafka.start().await.unwrap();
    kafka
        .create_topic(&TopicSpec::new("versioned"))
        .await
        .unwrap();
    let acked = produce_acked(&kafka, "versioned", 200, 1).await.unwrap();
    assert_eq!(acked.len(), 200);
    let read = consume_values(&kafka, "versioned", 200).await.unwrap();
    assert_eq!(read.len(), 200, "read back what was acknowledged");
    let running = kafka.running_versions();
    assert_eq!(running.len(), 1, "{running:?}");
    let logged = running.values().next().unwrap().clone();
    let results = kafka.results();
    assert_eq!(results["kafka_version"], logged.as_str(), "{results}");
    logged
}

/// `./build.sh --kafka 4.0.2` installs a release beside the defaults; `KafkaVersion::release`
/// finds it and a broker runs it. Without the install the test reports itself skipped with the
/// build.sh line (it is not a default install, and CI that wants it sets
/// DUCTTAPE_KAFKA_VERSIONS): a skip says what to run; `#[ignore]` would say nothing.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn extra_release_runs_a_kraft_broker(ctx: TestContext) {
    let Some(version) = installed_or_skip(&ctx, EXTRA) else {
        return;
    };
    assert_eq!(version.home(), format!("/opt/kafka-{EXTRA}"));
    let parsed: KafkaVersion = EXTRA.parse().unwrap();
    assert_eq!(parsed, version);
    let logged = one_broker_round_trip(&ctx, version).await;
    assert_eq!(logged, EXTRA, "the broker runs the release asked for");
    ctx.record("kafka_version", logged);
}

/// After `upgrade_node` a node's version and home in `summary.json` are what its JVM runs, read
/// from it (its log's "Kafka version", its classpath), not the service's build-time install:
/// one KRaft broker on 3.8.1 moved onto 3.9.2 records 3.9.2 from `/opt/kafka-3.9.2`. And the
/// check bites: a move onto "3.9.2" whose home holds 3.8.1 (`KafkaVersion::at`) fails the
/// start, naming the node, both versions and the home. Needs 3.8.1 (skipped without it).
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn upgrade_node_records_what_runs_and_refuses_a_home_of_another_release(ctx: TestContext) {
    let Some(from) = installed_or_skip(&ctx, "3.8.1") else {
        return;
    };
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes.clone())
        .version(from.clone())
        .kraft_combined(1)
        .build(&ctx)
        .unwrap();
    kafka.start().await.unwrap();
    let node = &nodes[0];
    let change = ConfigChange::new();

    // A home that holds another release than the version it is said to be.
    let mislabelled = KafkaVersion::at("3.9.2", &from.home());
    let err = kafka
        .upgrade_node(node, &mislabelled, &change, true)
        .await
        .unwrap_err();
    println!("{err}");
    assert_eq!(err.step, UpgradeStep::Start);
    assert!(
        matches!(
            &err.source,
            ServiceError::Kafka(KafkaServiceError::NotTheVersionStarted { node: n, expected, running, home })
                if n == node.name() && expected == "3.9.2" && running == "3.8.1" && *home == from.home()
        ),
        "{err}"
    );

    kafka
        .upgrade_node(node, &KafkaVersion::V3_9, &change, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let results = kafka.results();
    assert_eq!(results["kafka_version"], "3.9.2", "{results}");
    assert_eq!(results["kafka_home"], "/opt/kafka-3.9.2", "{results}");
    assert_eq!(
        results["kafka_homes"][node.name()],
        "/opt/kafka-3.9.2",
        "{results}"
    );
    assert_eq!(kafka.version().home(), from.home(), "built on 3.8.1");
    ctx.record("refused", err.to_string());
}

/// A release that is not installed: `release` names the build.sh line, and a service started on
/// it anyway fails on the node with the same line.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn missing_release_names_the_build_line(ctx: TestContext) {
    let err = KafkaVersion::release("0.0.2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Kafka 0.0.2 is not installed: /opt/kafka-0.0.2/libs is missing. \
         Install it with: ./build.sh --kafka 0.0.2"
    );
    assert!(matches!(
        KafkaVersion::release("4.0"),
        Err(KafkaVersionError::Malformed(_))
    ));
    let nodes = ctx.lease(1).await.unwrap();
    let kafka = KafkaService::builder(nodes)
        .version(KafkaVersion::new("0.0.2"))
        .kraft_combined(1)
        .build(&ctx)
        .unwrap();
    let err = kafka.start().await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::MissingInstall { .. })
            && err
                .to_string()
                .ends_with("install it with: ./build.sh --kafka 0.0.2"),
        "{err}"
    );
}

fn names(classpath: &[PathBuf]) -> Vec<String> {
    classpath
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A source tree as `./gradlew jar` leaves it: the classpath is the one kafka-run-class.sh
/// would build (every jar, no test/javadoc jars, dependant-libs first, the broker last); a tree
/// without the broker's jar, an unbuilt tree and a non-Kafka directory are refused naming the
/// path and what is missing. Then a broker runs from it, and says it is 4.4.0.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn source_tree_after_gradlew_jar_runs_a_broker(ctx: TestContext) {
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let tree = work.path().join("kafka");
    let cache = work.path().join("cache");
    let jars = gradle_tree(&tree).unwrap();

    let (layout, classpath) = kafka_home::classpath(&tree).unwrap();
    assert_eq!(layout, Layout::SourceTree);
    let found = names(&classpath);
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(sorted, jars, "every jar, and none of the test/javadoc jars");
    assert!(
        found[0].starts_with("HdrHistogram"),
        "dependant-libs first: {found:?}"
    );
    assert_eq!(found.last().unwrap(), "kafka_2.13-4.4.0.jar", "{found:?}");

    // Broken trees, each refused for its reason, naming the path.
    let broken = work.path().join("broken");
    gradle_tree(&broken).unwrap();
    std::fs::remove_file(broken.join("core/build/libs/kafka_2.13-4.4.0.jar")).unwrap();
    let e = kafka_home::prepare(&broken, &cache)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("DUCTTAPE_KAFKA_HOME={}: ", broken.display()))
            && e.contains("no kafka_<scala>-4.4.0.jar")
            && e.contains("./gradlew jar"),
        "{e}"
    );
    std::fs::remove_dir_all(broken.join("core/build")).unwrap();
    let e = kafka_home::prepare(&broken, &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not built (no core/build/)"), "{e}");
    let e = kafka_home::prepare(work.path(), &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither a Kafka release"), "{e}");

    let home = kafka_home::prepare(&tree, &cache).unwrap();
    assert_eq!(home.version, "4.4.0");
    assert!(home.home.join("config/log4j2.yaml").is_file());
    // The same jars make the same home; the process's own preparation is cached on disk.
    assert_eq!(kafka_home::prepare(&tree, &cache).unwrap().home, home.home);

    let version = KafkaVersion::at(&home.version, &home.home.display().to_string());
    let logged = one_broker_round_trip(&ctx, version).await;
    assert_eq!(logged, "4.4.0");
    ctx.record("kafka_version", logged);
    ctx.record("kafka_home_source", tree.display().to_string());
}

/// A release tarball (`./gradlew releaseTarGz`'s `kafka_2.13-<version>.tgz`, here made from the
/// 4.0.2 install) is extracted once, keyed by the file: a second preparation reuses it; a
/// rewritten tarball is extracted again.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn release_tarball_is_extracted_once(ctx: TestContext) {
    if let Err(e) = KafkaVersion::release(EXTRA) {
        ctx.skip(e.to_string());
        return;
    }
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let cache = work.path().join("cache");
    let tgz = work.path().join(format!("kafka_2.13-{EXTRA}.tgz"));
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg("/opt")
        .arg("--transform")
        .arg(format!("s,^kafka-{EXTRA},kafka_2.13-{EXTRA},"))
        .arg(format!("kafka-{EXTRA}/libs"))
        .status()
        .unwrap();
    assert!(status.success());
    let first = kafka_home::prepare(&tgz, &cache).unwrap();
    assert_eq!(first.layout, Layout::Tarball);
    assert_eq!(first.version, EXTRA);
    let extracted = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tgz-"))
            .count()
    };
    assert_eq!(extracted(), 1);
    let again = kafka_home::prepare(&tgz, &cache).unwrap();
    assert_eq!(again, first, "the second preparation reuses the first");
    assert_eq!(extracted(), 1);
    // Rewritten (a new modification time): extracted again.
    std::fs::File::options()
        .write(true)
        .open(&tgz)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    kafka_home::prepare(&tgz, &cache).unwrap();
    assert_eq!(extracted(), 2);
    // A file that is no tarball is refused for that.
    std::fs::write(work.path().join("not.tgz"), b"not gzip").unwrap();
    let e = kafka_home::prepare(&work.path().join("not.tgz"), &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tar could not extract it"), "{e}");
}
