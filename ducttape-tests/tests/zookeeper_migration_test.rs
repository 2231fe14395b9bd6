#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `zookeeper_migration_test` (`test_online_migration`), on 3.9.2 — the last
//! release with ZooKeeper mode — with the verifiable producer and consumer running throughout:
//!
//! 1. a ZooKeeper-mode cluster (1 ZooKeeper, 3 brokers) under load;
//! 2. a KRaft controller provisioned in migration mode (`zookeeper.metadata.migration.enable`,
//!    formatted with the ZooKeeper cluster's id);
//! 3. the brokers rolled in migration mode (the controller quorum named, the migration on);
//!    the controller logs that it migrated the metadata from ZooKeeper;
//! 4. the brokers rolled as KRaft brokers (`process.roles=broker`, `node.id`, no ZooKeeper);
//! 5. the migration finalized: the controller restarted without ZooKeeper settings;
//! 6. ZooKeeper stopped: records are still acknowledged, a new topic can be created, and the
//!    topic made in ZooKeeper mode is described with its partitions, replicas and id.
//!
//! After every broker step each partition has a leader and its full ISR and acknowledgements
//! go on; every record acknowledged before, during and after is consumed with its value.
//!
//! ACLs go through the migration too. The ZooKeeper-mode brokers run `AclAuthorizer`, the
//! KRaft controller and the brokers once they are KRaft brokers `StandardAuthorizer`, all with
//! `allow.everyone.if.no.acl.found` (the clients and brokers here are unauthenticated, and a
//! super user would pass every check). Before the migration an ACL lets `User:alice` write the
//! topic `guarded`, which makes it closed to everyone else; once ZooKeeper is gone the ACL is
//! still listed and still enforced: an unauthenticated client describing `guarded` is refused
//! for authorization, while `rolled` (no ACL) stays open. Both checks are shown failing: the
//! listing on an ACL never created, the refusal on the topic without ACLs.

use ducttape_services::kafka::{
    Acl, AclOperation, AclResource, ConfigChange, KafkaAdmin, Rejection, SecurityConfig,
};
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::rolling::{start_workload, topic_id, wait_for_full_isr, SETTLE, TOPIC};
use ducttape_tests::{ctx, start_secured_kafka_with, wait_for_more_acks, Mode, Node, TestContext};
use rstest::rstest;
use serial_test::serial;

/// The topic an ACL closes to all but alice.
const GUARDED: &str = "guarded";
/// ZooKeeper mode's authorizer.
const ZOOKEEPER_AUTHORIZER: &str = "kafka.security.authorizer.AclAuthorizer";
/// KRaft's authorizer.
const KRAFT_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The ACL created before the migration.
fn alice_writes_guarded() -> Acl {
    Acl::allow(
        "alice",
        AclOperation::Write,
        AclResource::Topic(GUARDED.into()),
    )
}

/// `acl` is among the ACLs Kafka lists on its resource; else what it lists instead.
async fn acl_listed(kafka: &KafkaService, acl: &Acl) -> Result<(), String> {
    let listed = kafka
        .acls(acl.resource())
        .await
        .map_err(|e| e.to_string())?;
    if listed.contains(&acl.listed()) {
        Ok(())
    } else {
        Err(format!(
            "{} is not listed; Kafka lists {listed:?}",
            acl.listed()
        ))
    }
}

/// An unauthenticated client describing `topic` is refused for authorization; else what it
/// got instead.
async fn refused(kafka: &KafkaService, topic: &str) -> Result<(), String> {
    let anonymous = KafkaAdmin::new(&kafka.bootstrap_servers()).map_err(|e| e.to_string())?;
    match anonymous.describe_topic(topic).await {
        Err(e) if e.rejection() == Some(Rejection::Authorization) => Ok(()),
        Err(e) => Err(format!("{topic}: refused, but not for authorization: {e}")),
        Ok(parts) => Err(format!(
            "{topic}: described to an unauthenticated client ({} partitions): not refused",
            parts.len()
        )),
    }
}

/// The ACL is in Kafka's metadata and enforced, and each check fails where it must.
async fn check_acl(kafka: &KafkaService, when: &str) {
    let acl = alice_writes_guarded();
    acl_listed(kafka, &acl)
        .await
        .unwrap_or_else(|e| panic!("{when}: {e}"));
    refused(kafka, GUARDED)
        .await
        .unwrap_or_else(|e| panic!("{when}: {e}"));
    let never = Acl::allow(
        "bob",
        AclOperation::Read,
        AclResource::Topic(GUARDED.into()),
    );
    let missing = acl_listed(kafka, &never).await.unwrap_err();
    assert!(missing.contains("User:bob"), "{when}: {missing}");
    let open = refused(kafka, TOPIC).await.unwrap_err();
    assert!(open.contains("not refused"), "{when}: {open}");
    println!("{when}: {} listed and enforced; the checks fail on an ACL never created ({missing}) and on a topic without ACLs ({open})", acl.listed());
}

/// What the 3.9 controller logs once it copied ZooKeeper's metadata into KRaft.
const MIGRATED: &str = "Completed migration of metadata from ZooKeeper to KRaft";

/// Waits until `node`'s Kafka log has a line containing `text`.
async fn wait_for_log(node: &Node, text: &str) {
    let cmd = format!(
        "grep -c {} /mnt/kafka/server.log || true",
        ducttape_core::remote::quote(text)
    );
    ducttape_core::wait_until(
        &format!("{} logs {text:?}", node.name()),
        SETTLE,
        std::time::Duration::from_secs(1),
        || async {
            let n = node.account().ssh_output(&cmd).await?;
            Ok::<_, ducttape_core::remote::RemoteError>(
                (n.trim().parse::<u32>().unwrap_or(0) > 0).then_some(()),
            )
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The cluster id ZooKeeper-mode brokers keep in their `meta.properties`.
async fn zookeeper_cluster_id(kafka: &KafkaService) -> String {
    let node = kafka.brokers()[0].clone();
    let out = node
        .account()
        .ssh_output("sed -n 's/^cluster.id=//p' /mnt/kafka/data/meta.properties")
        .await
        .unwrap();
    let id = out.trim().to_string();
    assert_eq!(id.len(), 22, "a cluster id in meta.properties: {out:?}");
    id
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn online_migration_from_zookeeper_to_kraft_on_3_9(ctx: TestContext) {
    let version = KafkaVersion::V3_9;
    let cluster = start_secured_kafka_with(
        &ctx,
        Mode::Zookeeper,
        3,
        version.clone(),
        SecurityConfig::default(),
        |b| {
            b.config("authorizer.class.name", ZOOKEEPER_AUTHORIZER)
                .config("allow.everyone.if.no.acl.found", true)
        },
    )
    .await
    .unwrap();
    let zk = cluster.zookeeper.clone().unwrap();
    let w = start_workload(&ctx, cluster, (&version, &version), 500)
        .await
        .unwrap();
    let brokers = w.kafka().clone();
    let id_before = topic_id(&brokers, TOPIC).await.unwrap();
    brokers
        .create_topic(&TopicSpec::new(GUARDED).partitions(1).replication_factor(3))
        .await
        .unwrap();
    brokers.grant(&[alice_writes_guarded()]).await.unwrap();
    check_acl(&brokers, "in ZooKeeper mode").await;

    // 2. The KRaft controller, in migration mode.
    let cluster_id = zookeeper_cluster_id(&brokers).await;
    let broker_config = brokers.config(0);
    let inter_broker = broker_config.get("inter.broker.listener.name").unwrap();
    let controller = KafkaService::builder(ctx.lease(1).await.unwrap())
        .version(version.clone())
        .migration_controllers(&cluster_id)
        .config("zookeeper.connect", zk.connect_string())
        .config("zookeeper.metadata.migration.enable", true)
        .config("inter.broker.listener.name", inter_broker)
        .config("authorizer.class.name", KRAFT_AUTHORIZER)
        .config("allow.everyone.if.no.acl.found", true)
        .build(&ctx)
        .unwrap();
    controller.start().await.unwrap();
    let controller_node = controller.nodes_in_roll_order()[0].clone();
    let voters = controller
        .config(0)
        .get("controller.quorum.voters")
        .unwrap()
        .to_string();

    // 3. The brokers in migration mode.
    let protocols = format!(
        "{},CONTROLLER:PLAINTEXT",
        broker_config.get("listener.security.protocol.map").unwrap()
    );
    let migrating = ConfigChange::new()
        .set("zookeeper.metadata.migration.enable", true)
        .set("controller.quorum.voters", &voters)
        .set("controller.listener.names", "CONTROLLER")
        .set("listener.security.protocol.map", &protocols)
        .set("inter.broker.protocol.version", "3.9");
    w.roll("brokers into migration mode", &version, &migrating, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_log(&controller_node, MIGRATED).await;
    let acked_migrated = wait_for_more_acks(&w.producer, 100, SETTLE).await.unwrap();

    // 4. The brokers as KRaft brokers.
    for node in brokers.nodes_in_roll_order() {
        let id = brokers.id_of(&node).unwrap();
        let kraft = ConfigChange::new()
            .remove("broker.id")
            .remove("zookeeper.connect")
            .remove("zookeeper.connection.timeout.ms")
            .remove("zookeeper.session.timeout.ms")
            .remove("zookeeper.metadata.migration.enable")
            .remove("inter.broker.protocol.version")
            .set("process.roles", "broker")
            .set("node.id", id)
            .set("authorizer.class.name", KRAFT_AUTHORIZER);
        w.step("brokers as KRaft brokers", &node, &version, &kraft, true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // 5. Finalized: the controller without ZooKeeper.
    let finalize = ConfigChange::new()
        .remove("zookeeper.metadata.migration.enable")
        .remove("zookeeper.connect");
    controller
        .upgrade_node(&controller_node, &version, &finalize, true)
        .await
        .unwrap_or_else(|e| panic!("finalizing: {e}"));
    wait_for_full_isr(&brokers, TOPIC).await.unwrap();
    wait_for_more_acks(&w.producer, 100, SETTLE).await.unwrap();

    // 6. ZooKeeper gone.
    zk.stop().await.unwrap();
    let acked_without_zk = wait_for_more_acks(&w.producer, 300, SETTLE).await.unwrap();
    brokers
        .create_topic(
            &TopicSpec::new("after_zookeeper")
                .partitions(3)
                .replication_factor(3),
        )
        .await
        .unwrap();
    let parts = brokers.describe_topic(TOPIC).await.unwrap();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(parts.iter().all(|p| p.replicas.len() == 3), "{parts:?}");
    assert_eq!(topic_id(&brokers, TOPIC).await.unwrap(), id_before);
    check_acl(&brokers, "on KRaft, ZooKeeper gone").await;

    let report = w.finish(&ctx).await.unwrap();
    println!(
        "migration: {acked_migrated} acknowledged by the metadata migration, {acked_without_zk} once ZooKeeper was gone; {report}"
    );
    ctx.record("acked_when_migrated", acked_migrated);
    ctx.record("acked_after_zookeeper_stopped", acked_without_zk);
    assert!(report.acked >= acked_without_zk);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}
