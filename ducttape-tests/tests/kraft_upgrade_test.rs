#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `kraft_upgrade_test`: a KRaft cluster on 3.9.2 is rolled, one node at a time,
//! onto 4.4.0 while the verifiable producer and consumer (3.9.2's, as kafkatest's run the
//! old release) keep going; after every step each partition has a leader and its full ISR and
//! acknowledgements go on; then `metadata.version` is raised with Kafka's own
//! `kafka-features upgrade --metadata` to the newest the new release supports. Every
//! acknowledged record must be consumed with its value. Combined controllers in the default
//! run; a dedicated controller (rolled first) is `#[ignore]`d. An upgrade step whose broker
//! never comes back (a broken config, a broken build) fails the scenario naming the pass, the
//! node and the step.
//!
//! kafkatest upgrades onto `DEV_BRANCH`, the developer's own build: so does
//! `rolling_upgrade_onto_the_build_under_test`, from `DUCTTAPE_UPGRADE_FROM` (default 3.9.2)
//! onto `DUCTTAPE_KAFKA_HOME` (see docs/kafka-versions.md).

use ducttape_services::kafka::ConfigChange;
use ducttape_services::kafka_home::{self, KAFKA_HOME_ENV};
use ducttape_services::KafkaVersionError;
use ducttape_services::{KafkaVersion, Service};
use ducttape_tests::builds::gradle_tree;
use ducttape_tests::rolling::{start_workload, wait_for_full_isr, Workload, SETTLE, TOPIC};
use ducttape_tests::{ctx, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

/// A 3-broker cluster in `mode` on `from` under load from `from`'s clients.
async fn loaded_cluster(ctx: &TestContext, mode: Mode, from: &KafkaVersion) -> Workload {
    let cluster = start_kafka(ctx, mode, 3, from.clone()).await.unwrap();
    start_workload(ctx, cluster, (from, from), 500)
        .await
        .unwrap()
}

/// Rolls a 3-broker cluster in `mode` from `from` onto `to` under load, then raises
/// `metadata.version` to the newest `to` supports (it must, when `to` is a newer major.minor),
/// and checks delivery by value.
async fn upgrade_then_raise_metadata(
    ctx: TestContext,
    mode: Mode,
    from: KafkaVersion,
    to: KafkaVersion,
) {
    let w = loaded_cluster(&ctx, mode, &from).await;
    let kafka = w.kafka();
    let before = kafka.metadata_version().await.unwrap();

    let pass = format!("rolling upgrade {} → {}", from.version(), to.version());
    w.roll(&pass, &to, &ConfigChange::new(), true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let running = kafka.running_versions();
    assert!(
        running.values().all(|v| v == to.version()) && running.len() == kafka.nodes().len(),
        "every node says it runs {}: {running:?}",
        to.version()
    );
    // Moved onto the user's build, the results name it as the Kafka under test (the run
    // report's header), though the cluster started on a release.
    if let Some(Ok(user)) = to.user_home() {
        assert_eq!(
            kafka.results()["kafka_home_source"],
            user.source.display().to_string(),
            "the results name the build the nodes were moved onto"
        );
    }
    // The binaries are new, the metadata still the old release's until it is finalized.
    assert_eq!(kafka.metadata_version().await.unwrap(), before);
    let newest = kafka.describe_features().await.unwrap()["metadata.version"]
        .supported_max
        .clone();
    let newer_release = to.release_order()[..2] > from.release_order()[..2];
    assert!(
        newest != before || !newer_release,
        "{} knows no metadata.version newer than {}'s {before}",
        to.version(),
        from.version()
    );
    if newest != before {
        kafka.upgrade_metadata(&newest).await.unwrap();
    }
    let after = kafka.metadata_version().await.unwrap();
    assert_eq!(
        after,
        newest,
        "metadata.version raised to the newest {} supports",
        to.version()
    );
    wait_for_full_isr(kafka, TOPIC).await.unwrap();
    ducttape_tests::wait_for_more_acks(&w.producer, 100, SETTLE)
        .await
        .unwrap();

    let report = w.finish(&ctx).await.unwrap();
    println!("{pass}, metadata.version {before} → {after}: {report}");
    ctx.record("metadata_version_before", before);
    ctx.record("metadata_version_after", after);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn combined_controllers_upgrade_3_9_to_4_4_then_metadata(ctx: TestContext) {
    upgrade_then_raise_metadata(ctx, Mode::Kraft, KafkaVersion::V3_9, KafkaVersion::V4).await;
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "the dedicated-controller variant of the default case (≈ 2 min); run: cargo test -p ducttape-tests --test kraft_upgrade_test -- --ignored dedicated"]
async fn dedicated_controller_upgrade_3_9_to_4_4_then_metadata(ctx: TestContext) {
    upgrade_then_raise_metadata(
        ctx,
        Mode::KraftDedicated,
        KafkaVersion::V3_9,
        KafkaVersion::V4,
    )
    .await;
}

/// The check bites: the first broker is moved onto 4.4.0 with a config that keeps it from
/// starting (its controller listener named after a listener it does not have), and the roll
/// fails naming the pass, that node and the step, with Kafka's complaint.
#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "shows the roll failing on a broker that never rejoins (≈ 1 min); run: cargo test -p ducttape-tests --test kraft_upgrade_test -- --ignored never_rejoins"]
async fn a_step_whose_broker_never_rejoins_fails_naming_it(ctx: TestContext) {
    let from = KafkaVersion::V3_9;
    let w = loaded_cluster(&ctx, Mode::Kraft, &from).await;
    let node = w.kafka().nodes_in_roll_order()[0].clone();
    let broken = ConfigChange::new().set("controller.listener.names", "NO_SUCH_LISTENER");
    let err = w
        .step("broken upgrade", &node, &KafkaVersion::V4, &broken, true)
        .await
        .unwrap_err();
    println!("{err}");
    err.failed_start("broken upgrade", &node).unwrap();
    let text = err.to_string();
    // Kafka's words, from the failed start (4.4's storage tool validates the config first).
    assert!(
        text.contains("controller.listener.names must contain at least one value"),
        "Kafka's words: {text}"
    );
}

/// The setting naming the release the build under test is upgraded from.
const UPGRADE_FROM_ENV: &str = "DUCTTAPE_UPGRADE_FROM";
/// Its default: the newest 3.x, the last release with ZooKeeper and the one 4.x upgrades from.
const UPGRADE_FROM_DEFAULT: &str = "3.9.2";

/// The release to upgrade from and the build under test, or why there is nothing to test (a
/// skip that says what to set). A malformed `DUCTTAPE_UPGRADE_FROM` or an unusable
/// `DUCTTAPE_KAFKA_HOME` is an error, not a skip.
fn upgrade_onto_the_build_under_test() -> Result<(KafkaVersion, KafkaVersion), String> {
    let asked = std::env::var(UPGRADE_FROM_ENV)
        .ok()
        .filter(|v| !v.is_empty());
    let from = match KafkaVersion::release(asked.as_deref().unwrap_or(UPGRADE_FROM_DEFAULT)) {
        Ok(v) => v,
        Err(e @ KafkaVersionError::NotInstalled { .. }) => return Err(e.to_string()),
        Err(e) => panic!("{UPGRADE_FROM_ENV}: {e}"),
    };
    let to = KafkaVersion::DEFAULT;
    let home = to.user_home();
    if let Some(Err(e)) = home {
        panic!("{e}");
    }
    if to.release_order() > from.release_order() {
        return Ok((from, to));
    }
    Err(match home {
        None => format!(
            "{KAFKA_HOME_ENV} is unset, so the build under test is the default Kafka {}, not \
             newer than the release it would be upgraded from ({UPGRADE_FROM_ENV}={}): nothing \
             to upgrade. Set {KAFKA_HOME_ENV}=/path/to/your/kafka (a release directory, a .tgz, \
             or a source tree after ./gradlew jar), or {UPGRADE_FROM_ENV} to an older release \
             (e.g. 3.8.1, after ./build.sh --kafka 3.8.1)",
            to.version(),
            from.version()
        ),
        Some(_) => format!(
            "the build under test ({KAFKA_HOME_ENV}, Kafka {}) is not newer than \
             {UPGRADE_FROM_ENV}={}: set {UPGRADE_FROM_ENV} to an older release (a downgrade is \
             downgrade_test's)",
            to.version(),
            from.version()
        ),
    })
}

/// The release manager's question, kafkatest's upgrade onto `DEV_BRANCH`: does a rolling
/// upgrade from a release (`DUCTTAPE_UPGRADE_FROM`, default 3.9.2) onto *my* build
/// (`DUCTTAPE_KAFKA_HOME`) work? The same roll, checks and metadata raise as the default case.
/// With neither set the build under test is 3.9.2 itself: the test reports itself skipped,
/// saying what to set, rather than pass an upgrade that moves nothing.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn rolling_upgrade_onto_the_build_under_test(ctx: TestContext) {
    match upgrade_onto_the_build_under_test() {
        Ok((from, to)) => {
            ctx.record("upgrade_from", from.version());
            ctx.record("upgrade_to", to.home());
            upgrade_then_raise_metadata(ctx, Mode::Kraft, from, to).await;
        }
        Err(why) => ctx.skip(why),
    }
}

/// The check bites on a broken build: a source tree after `./gradlew jar` whose
/// `kafka-raft` jar is missing (prepared as `DUCTTAPE_KAFKA_HOME` prepares one: it has its
/// clients and broker jars, so it is accepted) cannot start a broker, and the roll onto it
/// fails at its first node, naming the pass, the node and the step, with the JVM's words.
#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "shows the upgrade onto a broken build failing (≈ 1 min); run: cargo test -p ducttape-tests --test kraft_upgrade_test -- --ignored broken_build"]
async fn an_upgrade_onto_a_broken_build_fails_naming_node_and_step(ctx: TestContext) {
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let tree = work.path().join("kafka");
    gradle_tree(&tree).unwrap();
    std::fs::remove_file(tree.join("core/build/dependant-libs-2.13.16/kafka-raft-4.4.0.jar"))
        .unwrap();
    let home = kafka_home::prepare(&tree, &work.path().join("cache")).unwrap();
    let to = KafkaVersion::at(&home.version, &home.home.display().to_string());

    let from = KafkaVersion::V3_9;
    let w = loaded_cluster(&ctx, Mode::Kraft, &from).await;
    let first = w.kafka().nodes_in_roll_order()[0].clone();
    let err = w
        .roll(
            "upgrade onto the broken build",
            &to,
            &ConfigChange::new(),
            true,
        )
        .await
        .unwrap_err();
    println!("{err}");
    let failed = err
        .failed_start("upgrade onto the broken build", &first)
        .unwrap();
    assert_eq!(failed.to, "4.4.0");
    let text = err.to_string();
    assert!(
        text.contains("org/apache/kafka/raft"),
        "the JVM's words: {text}"
    );
    ctx.record("broken_build_refused", text);
}
