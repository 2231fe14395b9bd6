//! Shared setup of ducttape-core's tests against real SSH nodes.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use ducttape_core::cluster::{NodeSpec, SshConfig};
use ducttape_core::remote::RemoteAccount;
use ducttape_core::TestContext;

/// A context named after the running test.
pub fn ctx() -> TestContext {
    TestContext::for_current_test().expect("test context")
}

/// A node nobody listens on: connections are refused.
pub fn refused_node() -> NodeSpec {
    NodeSpec {
        ssh: SshConfig {
            host: "nobody".into(),
            hostname: "127.0.0.1".into(),
            user: "root".into(),
            port: 1,
            identity_file: None,
            password: None,
            connect_timeout: Duration::from_secs(2),
            known_hosts: None,
        },
        externally_routable_ip: "127.0.0.1".into(),
        node_type: None,
    }
}

/// A test's `summary.json`.
pub fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Where the contexts that fail on purpose keep their results (`<run-id>/<test>` below it, as
/// usual): out of the run's report.
pub fn inner_results_root() -> PathBuf {
    std::env::temp_dir().join("ducttape-inner-results")
}

/// How a test run by [`run_as_test`] ended.
pub struct Ran {
    /// Its panic message, if it failed.
    pub panic: Option<String>,
    /// Its results directory.
    pub dir: PathBuf,
}

/// Runs `body` as a test would: on a thread of its own with its own runtime, with a context
/// whose results go under [`inner_results_root`].
pub fn run_as_test<F>(name: &'static str, body: F) -> Ran
where
    F: FnOnce(TestContext) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        + Send
        + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let ctx = TestContext::builder(name)
                .results_root(inner_results_root())
                .build()
                .unwrap();
            tx.send(ctx.results_dir().to_path_buf()).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(body(ctx));
        })
        .unwrap();
    let panic = handle.join().err().map(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    });
    Ran {
        panic,
        dir: rx.recv().unwrap(),
    }
}

/// The processes on the node whose command line matches `pattern` (`pgrep -af`), one per
/// line; empty when there are none. Write the pattern so it cannot match pgrep's own shell,
/// e.g. `[s]leep 42`.
pub async fn running(account: &RemoteAccount, pattern: &str) -> String {
    let command = format!(
        "pgrep -af {} || true",
        ducttape_core::remote::quote(pattern)
    );
    account.ssh_output(&command).await.unwrap()
}
