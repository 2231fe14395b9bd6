//! Where the systems under test live on a node and how to launch their JVMs.
//!
//! `build.sh` installs each pinned Kafka as `/opt/kafka-<version>/libs/*.jar` (with ZooKeeper's
//! jars) plus `config/` logging files, and links `/opt/kafka` to the default. A real Kafka
//! tarball has the same `libs/` and works too. Every JVM is started as
//! `java -cp '<home>/libs/*' <main class> …`.
//!
//! Files, by job: `java.rs` (a JVM command line from any install), `kafka.rs` (Kafka's
//! versions and installs: [`KafkaVersion`], which ZooKeeper and Connect run from too),
//! `jvm.rs` (any other JVM system's install and version: [`JvmInstall`]); here, [`Install`]
//! (what a process requires on its node).

mod java;
mod jvm;
mod kafka;

pub use java::{JavaCommand, CDS_ARCHIVE, CDS_ENV, JVM_PERFORMANCE_OPTS};
pub use jvm::JvmInstall;
pub(crate) use kafka::is_release_version;
pub use kafka::{KafkaVersion, KafkaVersionError, DEFAULT_RELEASES};

use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;

use crate::error::{ResultExt, ServiceError};
use crate::kafka_home::KafkaHomeError;

/// A system installed on the nodes (by `./build.sh`): what it is, and the path that must be
/// there. A missing install fails a start with [`ServiceError::MissingInstall`], which names
/// the system, the node, the path and the fix.
///
/// ```
/// use ducttape_services::Install;
/// let pixy = Install::file("kafka-pixy 0.18.0", "/opt/kafka-pixy-0.18.0/bin/kafka-pixy");
/// assert_eq!(pixy.what(), "kafka-pixy 0.18.0");
/// assert_eq!(pixy.path(), "/opt/kafka-pixy-0.18.0/bin/kafka-pixy");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    what: String,
    path: String,
    test: String,
    /// A `DUCTTAPE_KAFKA_HOME` that cannot be used: every check fails with it.
    unusable: Option<KafkaHomeError>,
}

/// How to install what [`ServiceError::MissingInstall`] found missing: a Kafka release `./build.sh`
/// installs only when asked (`what` "Kafka 4.0.2" at `/opt/kafka-4.0.2/libs`) names its
/// `./build.sh --kafka` line; anything else, `./build.sh` itself.
pub(crate) fn install_fix(what: &str, path: &str) -> String {
    match what.strip_prefix("Kafka ") {
        Some(v)
            if is_release_version(v)
                && !DEFAULT_RELEASES.contains(&v)
                && path == format!("/opt/kafka-{v}/libs") =>
        {
            format!("install it with: ./build.sh --kafka {v}")
        }
        _ => "run ./build.sh (it installs the pinned versions under /opt)".to_string(),
    }
}

impl Install {
    /// An install whose presence is an executable file at `path`.
    pub fn file(what: &str, path: &str) -> Self {
        Self {
            what: what.to_string(),
            path: path.to_string(),
            test: format!("test -x {}", quote(path)),
            unusable: None,
        }
    }

    /// What it is (`Kafka 3.9.2`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The path looked for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fails with [`ServiceError::MissingInstall`] unless the install is on `node`.
    pub async fn check(&self, service: &str, node: &Node) -> Result<(), ServiceError> {
        if let Some(e) = &self.unusable {
            return Err(ServiceError::KafkaHome(e.clone()));
        }
        require_install(service, node, &self.test, &self.what, &self.path).await
    }
}

/// Fails with [`ServiceError::MissingInstall`] (naming `what` and `path`) unless the shell
/// test `test` succeeds on `node`.
pub(crate) async fn require_install(
    service: &str,
    node: &Node,
    test: &str,
    what: &str,
    path: &str,
) -> Result<(), ServiceError> {
    let present = node.account().ssh_status(test).await.ctx(service)?;
    if present == Some(0) {
        Ok(())
    } else {
        Err(ServiceError::MissingInstall {
            service: service.to_string(),
            node: node.name().to_string(),
            what: what.to_string(),
            path: path.to_string(),
        })
    }
}
