//! [`JavaCommand`]: a `java` command line from any install — classpath, main class, JVM
//! options, heap, class-data sharing archive.

use ducttape_core::remote::quote;

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
///
/// Any JVM service builds one from its own install, without Kafka:
///
/// ```
/// use ducttape_services::JavaCommand;
/// let cmd = JavaCommand::new("/opt/my-system/lib/*", "com.example.Main").heap("256m").arg("--port=1").render();
/// assert!(cmd.ends_with("-cp '/opt/my-system/lib/*' com.example.Main --port=1"));
/// ```
#[derive(Debug, Clone)]
pub struct JavaCommand {
    classpath: String,
    cds_archive: Option<String>,
    main_class: String,
    jvm_args: Vec<String>,
    heap: String,
    fixed_heap: bool,
    args: Vec<String>,
}

impl JavaCommand {
    /// `main_class` from `classpath` (`<home>/libs/*`), with [`JVM_PERFORMANCE_OPTS`], a
    /// 512m heap, and no class-data sharing archive.
    pub fn new(classpath: impl Into<String>, main_class: &str) -> Self {
        Self {
            classpath: classpath.into(),
            cds_archive: None,
            main_class: main_class.to_string(),
            jvm_args: JVM_PERFORMANCE_OPTS.map(String::from).to_vec(),
            heap: "512m".into(),
            fixed_heap: false,
            args: Vec::new(),
        }
    }

    /// Maps this class-data sharing archive when it is on the node (see
    /// [`render`](Self::render)).
    pub fn cds_archive(mut self, path: impl Into<String>) -> Self {
        self.cds_archive = Some(path.into());
        self
    }

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
    /// When the command names a class-data sharing archive ([`cds_archive`](Self::cds_archive);
    /// a Kafka install's is the one `build.sh` makes, `<home>/ducttape.jsa`, see
    /// [`CDS_ARCHIVE`]) and the node has it, the JVM maps it — the classes Kafka's JVMs
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
        words.extend(["-cp".to_string(), self.classpath.clone()]);
        words.push(self.main_class.clone());
        words.extend(self.args.iter().cloned());
        let words = ducttape_core::remote::quote_all(&words);
        // On a node whose clock a fault faked, `env LD_PRELOAD=…libfaketime…` (read there).
        let clock = crate::faults::JVM_CLOCK_PREFIX;
        // The archive's words come out of `echo` unquoted: only a path that needs no quoting.
        let archive = self
            .cds_archive
            .as_ref()
            .filter(|a| cds_wanted() && quote(a) == **a);
        if let Some(archive) = archive {
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
