//! [`KafkaVersion`]: a Kafka install under `/opt` (or the user's own build), the JVM commands
//! it runs and the [`Install`] a process requires for it.

use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;

use super::{Install, JavaCommand, CDS_ARCHIVE};
use crate::error::ServiceError;
use crate::kafka_home::{self, KafkaHome, KafkaHomeError};

/// The Kafka releases `./build.sh` installs without being asked (`--kafka` adds others).
pub const DEFAULT_RELEASES: [&str; 2] = ["3.9.2", "4.4.0"];

/// A Kafka version installed under `/opt` — or, for [`KafkaVersion::DEFAULT`] when
/// `DUCTTAPE_KAFKA_HOME` is set, the user's own build (see [`crate::kafka_home`]).
///
/// ```
/// use ducttape_services::KafkaVersion;
/// # if std::env::var_os("DUCTTAPE_KAFKA_HOME").is_none() {
/// assert_eq!(KafkaVersion::DEFAULT.home(), "/opt/kafka");
/// # }
/// assert!(KafkaVersion::V3_9.supports_zookeeper());
/// assert!(!KafkaVersion::V4.supports_zookeeper());
/// assert_eq!(KafkaVersion::new("4.4.0").home(), "/opt/kafka-4.4.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaVersion {
    version: std::borrow::Cow<'static, str>,
    home: Option<std::borrow::Cow<'static, str>>,
    /// Runs the user's Kafka when `DUCTTAPE_KAFKA_HOME` is set (only [`KafkaVersion::DEFAULT`]).
    follows_env: bool,
}

/// A Kafka release asked for by its version that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaVersionError {
    /// Not a release version (`X.Y.Z`).
    #[error("{0:?} is not a Kafka release version (want X.Y.Z, e.g. 4.0.2)")]
    Malformed(String),
    /// Not installed on this machine.
    #[error("Kafka {version} is not installed: {path} is missing. Install it with: ./build.sh --kafka {version}")]
    NotInstalled {
        /// The version.
        version: String,
        /// The directory looked for.
        path: String,
    },
}

impl KafkaVersion {
    /// What `/opt/kafka` points to (3.9.2, which runs ZooKeeper and KRaft modes) — or the
    /// user's own Kafka when `DUCTTAPE_KAFKA_HOME` names one (see [`crate::kafka_home`]):
    /// every scenario that does not pin a version runs on it.
    pub const DEFAULT: KafkaVersion = KafkaVersion {
        version: std::borrow::Cow::Borrowed("3.9.2"),
        home: Some(std::borrow::Cow::Borrowed("/opt/kafka")),
        follows_env: true,
    };
    /// Kafka 3.9.2 (ZooKeeper and KRaft modes).
    pub const V3_9: KafkaVersion = KafkaVersion {
        version: std::borrow::Cow::Borrowed("3.9.2"),
        home: None,
        follows_env: false,
    };
    /// Kafka 4.4.0 (KRaft only).
    pub const V4: KafkaVersion = KafkaVersion {
        version: std::borrow::Cow::Borrowed("4.4.0"),
        home: None,
        follows_env: false,
    };

    /// Any version installed at `/opt/kafka-<version>` (not checked: a missing install fails
    /// the start that needs it; [`KafkaVersion::release`] checks at once).
    pub fn new(version: &str) -> Self {
        Self {
            version: std::borrow::Cow::Owned(version.to_string()),
            home: None,
            follows_env: false,
        }
    }

    /// The release `version` (`X.Y.Z`) installed by `./build.sh` at `/opt/kafka-<version>`,
    /// checked on this machine (the local cluster's nodes share its `/opt`). Missing, the
    /// error gives the `./build.sh --kafka <version>` line that installs it. Also
    /// `"4.0.2".parse::<KafkaVersion>()`.
    ///
    /// ```
    /// use ducttape_services::KafkaVersion;
    /// let err = KafkaVersion::release("0.0.1").unwrap_err();
    /// assert!(err.to_string().ends_with("Install it with: ./build.sh --kafka 0.0.1"), "{err}");
    /// assert!(KafkaVersion::release("4.0").is_err());
    /// ```
    pub fn release(version: &str) -> Result<Self, KafkaVersionError> {
        if !is_release_version(version) {
            return Err(KafkaVersionError::Malformed(version.to_string()));
        }
        let release = Self::new(version);
        let libs = format!("{}/libs", release.home());
        let has_jars = std::fs::read_dir(&libs).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".jar"))
        });
        if has_jars {
            Ok(release)
        } else {
            Err(KafkaVersionError::NotInstalled {
                version: version.to_string(),
                path: libs,
            })
        }
    }

    /// The user's Kafka this version runs (`DUCTTAPE_KAFKA_HOME`), when it follows it.
    fn user(&self) -> Option<&'static Result<KafkaHome, KafkaHomeError>> {
        if self.follows_env {
            kafka_home::from_env()
        } else {
            None
        }
    }

    /// The user's Kafka this version runs ([`KafkaVersion::DEFAULT`] with
    /// `DUCTTAPE_KAFKA_HOME` set): the home prepared from it, or why it cannot be used.
    pub fn user_home(&self) -> Option<Result<&'static KafkaHome, &'static KafkaHomeError>> {
        self.user().map(Result::as_ref)
    }

    /// `version` installed at `home` instead of `/opt/kafka-<version>` (e.g. a release
    /// tarball unpacked elsewhere).
    ///
    /// ```
    /// use ducttape_services::KafkaVersion;
    /// assert_eq!(KafkaVersion::at("3.9.2", "/srv/kafka").home(), "/srv/kafka");
    /// ```
    pub fn at(version: &str, home: &str) -> Self {
        Self {
            version: std::borrow::Cow::Owned(version.to_string()),
            home: Some(std::borrow::Cow::Owned(home.to_string())),
            follows_env: false,
        }
    }

    /// The version string (for the user's Kafka, the one its `kafka-clients-<version>.jar`
    /// names; what runs is read from the broker, see `KafkaService::results`).
    pub fn version(&self) -> &str {
        match self.user() {
            Some(Ok(user)) => &user.version,
            _ => &self.version,
        }
    }

    /// Where it is installed on the nodes.
    pub fn home(&self) -> String {
        if let Some(Ok(user)) = self.user() {
            return user.home.display().to_string();
        }
        self.home
            .as_deref()
            .map_or_else(|| format!("/opt/kafka-{}", self.version), str::to_string)
    }

    fn major(&self) -> u32 {
        self.version()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// Whether it is `major.minor` or newer (a version string that does not parse is 0.0).
    ///
    /// ```
    /// use ducttape_services::KafkaVersion;
    /// assert!(KafkaVersion::V4.at_least(3, 9));
    /// assert!(!KafkaVersion::new("3.8.1").at_least(3, 9));
    /// assert!(KafkaVersion::new("3.10.0").at_least(3, 9));
    /// ```
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .version()
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        have >= (major, minor)
    }

    /// Its place among releases: the leading numbers of [`version`](Self::version)
    /// (`4.1.0-SNAPSHOT` → 4, 1, 0), compared as numbers, not text.
    ///
    /// ```
    /// use ducttape_services::KafkaVersion;
    /// assert!(KafkaVersion::new("4.10.0").release_order() > KafkaVersion::new("4.9.1").release_order());
    /// ```
    pub fn release_order(&self) -> Vec<u32> {
        self.version()
            .split(['.', '-'])
            .map_while(|part| part.parse().ok())
            .collect()
    }

    /// ZooKeeper mode exists before 4.0.
    pub fn supports_zookeeper(&self) -> bool {
        self.major() < 4
    }

    /// The JVM flag selecting the logging config for servers (`tools`: for command-line tools,
    /// whose stdout must carry only their results).
    pub fn log4j_flag(&self, tools: bool) -> String {
        let home = self.home();
        let prefix = if tools { "tools-" } else { "" };
        if self.major() < 4 {
            format!("-Dlog4j.configuration=file:{home}/config/{prefix}log4j.properties")
        } else {
            format!("-Dlog4j2.configurationFile={home}/config/{prefix}log4j2.yaml")
        }
    }

    /// A JVM command line running `main_class` from this install, with the JVM options
    /// Kafka's own scripts give every JVM ([`JVM_PERFORMANCE_OPTS`](crate::install::JVM_PERFORMANCE_OPTS)) and server logging.
    pub fn java(&self, main_class: &str) -> JavaCommand {
        self.command(main_class, false, "512m")
    }

    /// A JVM command line for a command-line tool (quiet logging, `-Xmx256m` as
    /// `kafka-run-class.sh`) from this install.
    pub fn tool(&self, main_class: &str) -> JavaCommand {
        self.command(main_class, true, "256m")
    }

    fn command(&self, main_class: &str, tool: bool, heap: &str) -> JavaCommand {
        let home = self.home();
        JavaCommand::new(format!("{home}/libs/*"), main_class)
            .cds_archive(format!("{home}/{CDS_ARCHIVE}"))
            .heap(heap)
            .jvm_arg(self.log4j_flag(tool))
    }

    /// This install as an [`Install`] a process can require: its `libs/` holds jars.
    pub fn install(&self) -> Install {
        let libs = format!("{}/libs", self.home());
        Install {
            what: format!("Kafka {}", self.version()),
            test: format!("ls {}/*.jar >/dev/null 2>&1", quote(&libs)),
            path: libs,
            unusable: match self.user() {
                Some(Err(e)) => Some(e.clone()),
                _ => None,
            },
        }
    }

    /// Fails with [`ServiceError::MissingInstall`] unless the install is on `node`.
    pub async fn check_installed(&self, service: &str, node: &Node) -> Result<(), ServiceError> {
        self.install().check(service, node).await
    }
}

/// `X.Y.Z`, all digits: what `./build.sh --kafka` accepts.
pub(crate) fn is_release_version(version: &str) -> bool {
    let numbers: Vec<&str> = version.split('.').collect();
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl std::str::FromStr for KafkaVersion {
    type Err = KafkaVersionError;

    /// [`KafkaVersion::release`].
    fn from_str(version: &str) -> Result<Self, Self::Err> {
        Self::release(version)
    }
}
