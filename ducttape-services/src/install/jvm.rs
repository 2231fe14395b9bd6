//! [`JvmInstall`]: a JVM system that is not Kafka, installed the way `build.sh` installs every
//! Maven project (`build_maven_project NAME VERSION ARTIFACTS…` → `/opt/<name>-<version>/libs`),
//! with its own name and version — the JMX exporter agent today, any JVM service tomorrow.
//!
//! ZooKeeper and Kafka Connect are not such systems here: their jars come with Kafka's
//! (`kafka_2.13` depends on `zookeeper`, `kafka-tools` on `connect-runtime`), so they run from
//! a Kafka install and take a [`KafkaVersion`](super::KafkaVersion) — which Kafka's jars, not a
//! version of their own.

use std::borrow::Cow;

use ducttape_core::remote::quote;

use super::{Install, JavaCommand};

/// A JVM system's install: `name` and `version` as `build.sh` names them, its jars in
/// `<home>/libs` (`/opt/<name>-<version>` unless given).
///
/// ```
/// use ducttape_services::{JvmInstall, ProcessSpec};
/// let exporter = JvmInstall::new("jmx-exporter", "1.0.1");
/// assert_eq!(exporter.home(), "/opt/jmx-exporter-1.0.1");
/// assert_eq!(
///     exporter.jar("jmx_prometheus_javaagent-1.0.1.jar"),
///     "/opt/jmx-exporter-1.0.1/libs/jmx_prometheus_javaagent-1.0.1.jar"
/// );
/// assert_eq!(exporter.install().what(), "jmx-exporter 1.0.1");
/// // A JVM service's process, without Kafka (docs/writing-a-service.md):
/// const MY_SYSTEM: JvmInstall = JvmInstall::new("my-system", "2.0.1");   // /opt/my-system-2.0.1
/// let spec = ProcessSpec::new("my-system", "/mnt/my-system")
///     .requires(MY_SYSTEM.install())                      // missing: names it and ./build.sh
///     .java(MY_SYSTEM.java("com.example.Main").heap("256m").arg("/mnt/my-system/my.conf"));
/// assert_eq!(spec.installs(), [MY_SYSTEM.install()]);
/// assert!(spec.command_line().ends_with("-cp '/opt/my-system-2.0.1/libs/*' com.example.Main /mnt/my-system/my.conf"));
/// let elsewhere = JvmInstall::at("my-system", "2.0.1", "/srv/my-system");
/// assert_eq!(elsewhere.java("com.example.Main").render().split(" -cp ").nth(1), Some("'/srv/my-system/libs/*' com.example.Main"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JvmInstall {
    name: Cow<'static, str>,
    version: Cow<'static, str>,
    home: Option<Cow<'static, str>>,
}

impl JvmInstall {
    /// `name` `version` at `/opt/<name>-<version>` (not checked here: a process that
    /// [`requires`](crate::ProcessSpec::requires) its [`install`](Self::install) fails its
    /// start naming it and `./build.sh` when it is missing).
    pub const fn new(name: &'static str, version: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            version: Cow::Borrowed(version),
            home: None,
        }
    }

    /// `name` `version` installed at `home` (a tarball unpacked elsewhere, say).
    pub fn at(name: &str, version: &str, home: &str) -> Self {
        Self {
            name: Cow::Owned(name.to_string()),
            version: Cow::Owned(version.to_string()),
            home: Some(Cow::Owned(home.to_string())),
        }
    }

    /// The system's name (`build.sh`'s `NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where it is installed on the nodes.
    pub fn home(&self) -> String {
        self.home.as_deref().map_or_else(
            || format!("/opt/{}-{}", self.name, self.version),
            str::to_string,
        )
    }

    /// The path of the jar `file` in its `libs/`.
    pub fn jar(&self, file: &str) -> String {
        format!("{}/libs/{file}", self.home())
    }

    /// A JVM command line running `main_class` with its `libs/*` as the classpath.
    pub fn java(&self, main_class: &str) -> JavaCommand {
        JavaCommand::new(format!("{}/libs/*", self.home()), main_class)
    }

    /// This install as an [`Install`] a process can require: its `libs/` holds jars.
    pub fn install(&self) -> Install {
        let libs = format!("{}/libs", self.home());
        Install {
            what: format!("{} {}", self.name, self.version),
            test: format!("ls {}/*.jar >/dev/null 2>&1", quote(&libs)),
            path: libs,
            unusable: None,
        }
    }
}
