//! Where the systems under test live on a node and how to launch their JVMs.
//!
//! `build.sh` installs each pinned Kafka as `/opt/kafka-<version>/libs/*.jar` (with ZooKeeper's
//! jars) plus `config/` logging files, and links `/opt/kafka` to the default. A real Kafka
//! tarball has the same `libs/` and works too. Every JVM is started as
//! `java -cp '<home>/libs/*' <main class> …`.

use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;

use crate::error::{ResultExt, ServiceError};
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
    /// Kafka's own scripts give every JVM ([`JVM_PERFORMANCE_OPTS`]) and server logging.
    pub fn java(&self, main_class: &str) -> JavaCommand {
        self.command(main_class, false, "512m")
    }

    /// A JVM command line for a command-line tool (quiet logging, `-Xmx256m` as
    /// `kafka-run-class.sh`) from this install.
    pub fn tool(&self, main_class: &str) -> JavaCommand {
        self.command(main_class, true, "256m")
    }

    fn command(&self, main_class: &str, tool: bool, heap: &str) -> JavaCommand {
        let mut jvm_args: Vec<String> = JVM_PERFORMANCE_OPTS.map(String::from).to_vec();
        jvm_args.push(self.log4j_flag(tool));
        JavaCommand {
            home: self.home(),
            main_class: main_class.to_string(),
            jvm_args,
            heap: heap.into(),
            fixed_heap: false,
            args: Vec::new(),
        }
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

/// `X.Y.Z`, all digits: what `./build.sh --kafka` accepts.
fn is_release_version(version: &str) -> bool {
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

/// The JVM options `kafka-run-class.sh` gives every JVM it starts (its default
/// `KAFKA_JVM_PERFORMANCE_OPTS`, the same in Kafka 3.9 and 4.x): brokers, ZooKeeper, Connect
/// and the tools here run as Kafka's own scripts and kafkatest run them.
pub const JVM_PERFORMANCE_OPTS: [&str; 7] = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
];

/// A `java` command line: `java -Xmx.. [-Xms..] <jvm args> -cp '<home>/libs/*' <main class>
/// <args>`, the JVM arguments starting with [`JVM_PERFORMANCE_OPTS`] and the logging config.
///
/// ```
/// use ducttape_services::KafkaVersion;
/// let cmd = KafkaVersion::DEFAULT.tool("org.apache.kafka.tools.TopicCommand").arg("--list").render();
/// assert!(cmd.contains(" -Xmx256m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "));
/// assert!(cmd.contains(" -Djava.awt.headless=true -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties -cp"));
/// assert!(cmd.ends_with("-cp '/opt/kafka/libs/*' org.apache.kafka.tools.TopicCommand --list"));
/// // A server's heap as kafka-server-start.sh sets it: fixed at its maximum.
/// let broker = KafkaVersion::DEFAULT.java("kafka.Kafka").heap("1g").fixed_heap().render();
/// assert!(broker.contains(" -Xmx1g -Xms1g -server "));
/// ```
#[derive(Debug, Clone)]
pub struct JavaCommand {
    home: String,
    main_class: String,
    jvm_args: Vec<String>,
    heap: String,
    fixed_heap: bool,
    args: Vec<String>,
}

impl JavaCommand {
    /// Adds a program argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds program arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds a JVM argument (`-Dkey=value`, `-XX:…`).
    pub fn jvm_arg(mut self, arg: impl Into<String>) -> Self {
        self.jvm_args.push(arg.into());
        self
    }

    /// Sets the maximum heap (`-Xmx`), e.g. `1g`.
    pub fn heap(mut self, heap: impl Into<String>) -> Self {
        self.heap = heap.into();
        self
    }

    /// Starts the JVM with its whole heap (`-Xms` = `-Xmx`), as `kafka-server-start.sh`
    /// (`-Xmx1G -Xms1G`) and `zookeeper-server-start.sh` (`-Xmx512M -Xms512M`) do.
    pub fn fixed_heap(mut self) -> Self {
        self.fixed_heap = true;
        self
    }

    /// The shell command line, every argument quoted.
    ///
    /// When the install has the class-data sharing archive `build.sh` makes
    /// (`<home>/ducttape.jsa`, see [`CDS_ARCHIVE`]) the JVM maps it — the classes Kafka's JVMs
    /// load, already parsed and verified: a broker's start takes ≈ 40 % less CPU. Whether the
    /// file is there is asked on the node, by the command itself (an absent archive named with
    /// `-XX:SharedArchiveFile` would switch off the JDK's own sharing too). With the archive,
    /// the JVM's own warnings go to stderr (a stale archive's warning must not land in a
    /// tool's results on stdout); these words come before the JVM arguments, so a caller's own
    /// `-Xlog:…` still applies. [`CDS_ENV`]`=off`, or a home whose path needs shell quoting,
    /// leaves the archive unused.
    ///
    /// On a node whose clock [`Faults::fake_clock`](crate::faults::Faults::fake_clock) faked,
    /// the JVM starts under libfaketime: the command reads the `env …` words from a file there
    /// (nothing when it is absent).
    pub fn render(&self) -> String {
        let mut words = vec![format!("-Xmx{}", self.heap)];
        if self.fixed_heap {
            words.push(format!("-Xms{}", self.heap));
        }
        words.extend(self.jvm_args.iter().cloned());
        words.extend(["-cp".to_string(), format!("{}/libs/*", self.home)]);
        words.push(self.main_class.clone());
        words.extend(self.args.iter().cloned());
        let words = ducttape_core::remote::quote_all(&words);
        let archive = format!("{}/{CDS_ARCHIVE}", self.home);
        // On a node whose clock a fault faked, `env LD_PRELOAD=…libfaketime…` (read there).
        let clock = crate::faults::JVM_CLOCK_PREFIX;
        // The archive's words come out of `echo` unquoted: only a path that needs no quoting.
        if cds_wanted() && quote(&archive) == archive {
            format!(
                "{clock}java $(test -r {archive} && echo -XX:SharedArchiveFile={archive} \
                 -Xlog:disable -Xlog:all=warning:stderr) {words}"
            )
        } else {
            format!("{clock}java {words}")
        }
    }
}

/// The class-data sharing archive `build.sh` makes in each Kafka install (`<home>/ducttape.jsa`).
pub const CDS_ARCHIVE: &str = "ducttape.jsa";

/// `DUCTTAPE_JAVA_CDS=off` starts JVMs without the install's class-data sharing archive.
pub const CDS_ENV: &str = "DUCTTAPE_JAVA_CDS";

fn cds_wanted() -> bool {
    std::env::var(CDS_ENV).map_or(true, |v| v != "off")
}
