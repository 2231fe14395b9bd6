//! Shared setup of ducttape-core's tests against real SSH nodes.
#![allow(dead_code, clippy::expect_used)]

use std::time::Duration;

use ducttape_core::cluster::{NodeSpec, SshConfig};
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
