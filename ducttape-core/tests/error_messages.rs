//! What a test author sees when a test fails on an error: the message and its causes, as
//! anyhow prints them — not the nested `Debug` structure of the error types.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unnecessary_literal_unwrap
)]

use ducttape_core::cluster::{Cluster, ClusterChoice};
use ducttape_core::context::ContextError;

/// A broken cluster file, through the same path `DUCTTAPE_CLUSTER=file.json` takes.
fn broken_cluster_file_error() -> ContextError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.json");
    std::fs::write(
        &path,
        r#"{"nodes":[{"externally_routable_ip":"10.0.0.1","ssh_config":{"host":"w1","hostname":"10.0.0.1","port":"not a port","user":"root"}}]}"#,
    )
    .unwrap();
    let Err(e) = Cluster::from_choice(ClusterChoice::File(path)) else {
        panic!("a port that is not a number was accepted");
    };
    ContextError::from(e)
}

#[test]
fn unwrap_on_a_bad_cluster_file_shows_the_message_not_the_structure() {
    let e = broken_cluster_file_error();
    let shown = format!("{e:?}");
    assert_eq!(shown, e.to_string(), "no causes beyond the message here");
    assert!(shown.contains("cluster.json"), "{shown}");
    assert!(shown.contains("ssh_config.port"), "{shown}");
    for structure in ["Cluster(", "File(", "Field {", "NodeRef"] {
        assert!(!shown.contains(structure), "{structure} in {shown}");
    }
    // And what a panic on `unwrap()` prints.
    let panic = std::panic::catch_unwind(|| {
        Err::<(), _>(broken_cluster_file_error()).unwrap();
    })
    .unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(
        text.starts_with("called `Result::unwrap()` on an `Err` value: cluster file"),
        "{text}"
    );
}

#[test]
fn causes_are_listed_once() {
    // A missing file: the message embeds the io error, which is then not repeated.
    let e = ContextError::from(
        Cluster::from_choice(ClusterChoice::File("/nonexistent/cluster.json".into()))
            .err()
            .expect("a missing file was accepted"),
    );
    let shown = format!("{e:?}");
    assert_eq!(shown.matches("No such file").count(), 1, "{shown}");
}
