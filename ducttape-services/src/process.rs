//! [`ProcessSpec`]: one long-running process of a service on one node, *declared* — the install
//! it needs, the files it reads, its command line, its log and what "ready" means — from which
//! the node hooks follow: [`start`](ProcessSpec::start), [`stop`](ProcessSpec::stop),
//! [`clean`](ProcessSpec::clean), [`pids`](ProcessSpec::pids).
//!
//! A service builds the spec of a node (its config differs per node) and its [`Service`]
//! hooks become one line each; what stays in the service's file is what is its own: the config
//! it renders and the questions it answers.
//!
//! [`Service`]: crate::Service

use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;

use crate::error::{ResultExt, ServiceError};
use crate::install::Install;
use crate::install::JavaCommand;
use crate::jvm::{JvmObservation, AGENT_CONFIG};
use crate::readiness::{Readiness, Watched};
use crate::service::ProcessFiles;

/// One process of a service on a node.
///
/// ```
/// use std::time::Duration;
/// use ducttape_services::{KafkaVersion, Readiness};
/// use ducttape_services::ProcessSpec;
/// let spec = ProcessSpec::new("connect", "/mnt/connect")
///     .requires(KafkaVersion::V3_9.install())
///     .file("/mnt/connect/worker.properties", "group.id=g\n")
///     .java(KafkaVersion::V3_9.java("org.apache.kafka.connect.cli.ConnectDistributed").arg("/mnt/connect/worker.properties"))
///     .ready_when(Readiness::LogLine("Kafka Connect started".into()))
///     .start_timeout(Duration::from_secs(90));
/// assert_eq!(spec.log(), "/mnt/connect/connect.log");
/// assert_eq!(spec.pidfile(), "/mnt/connect/connect.pid");
/// assert!(spec.command_line().ends_with("ConnectDistributed /mnt/connect/worker.properties"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProcessSpec {
    service: String,
    dir: String,
    /// Whether `dir` is emptied at every start (workers: no output of a previous run).
    fresh: bool,
    installs: Vec<Install>,
    /// More directories to make, besides `dir`.
    dirs: Vec<String>,
    /// Path, content, and whether only the owner may read it (mode 0600: passwords, keys).
    files: Vec<(String, String, bool)>,
    command: String,
    log: String,
    pidfile: String,
    readiness: Vec<Readiness>,
    start_timeout: Duration,
    stop_grace: Duration,
    /// The metrics agent and GC log its JVM gets (see [`observe`](Self::observe)).
    observation: Option<JvmObservation>,
}

impl ProcessSpec {
    /// The process of `service` living in `dir` (created at start, removed by
    /// [`clean`](Self::clean)); its output goes to `<dir>/<service>.log`, its pid to
    /// `<dir>/<service>.pid`. No command yet; a 60 s start timeout and a 30 s stop grace.
    pub fn new(service: &str, dir: &str) -> Self {
        Self {
            service: service.to_string(),
            dir: dir.to_string(),
            fresh: false,
            installs: Vec::new(),
            dirs: Vec::new(),
            files: Vec::new(),
            command: String::new(),
            log: format!("{dir}/{service}.log"),
            pidfile: format!("{dir}/{service}.pid"),
            readiness: Vec::new(),
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(30),
            observation: None,
        }
    }

    /// An install that must be on the node before anything is written there.
    pub fn requires(mut self, install: Install) -> Self {
        self.installs.push(install);
        self
    }

    /// Empties the process's directory at every start, before its files are written: nothing
    /// of a previous run (output, exit status) is read as this run's.
    pub fn fresh_dir(mut self) -> Self {
        self.fresh = true;
        self
    }

    /// A directory made before the process starts (besides its own).
    pub fn dir(mut self, path: &str) -> Self {
        self.dirs.push(path.to_string());
        self
    }

    /// A file written (replaced) on the node before the process starts.
    pub fn file(mut self, path: &str, content: impl Into<String>) -> Self {
        self.files.push((path.to_string(), content.into(), false));
        self
    }

    /// A file only its owner may read (mode 0600, never readable in between): configs with
    /// passwords, private keys.
    pub fn private_file(mut self, path: &str, content: impl Into<String>) -> Self {
        self.files.push((path.to_string(), content.into(), true));
        self
    }

    /// The JVM of [`java`](Self::java) (call this first) is observed: a rotated GC log in
    /// `<dir>/jvm/`, and Prometheus's JMX exporter when the observation has a metrics port
    /// (its config is written to `<dir>/jvm/jmx-exporter.yaml`, and its install is required:
    /// missing, the start fails naming it and `./build.sh`).
    pub fn observe(mut self, observation: JvmObservation) -> Self {
        self.observation = Some(observation);
        if observation.metrics_port().is_some() {
            self = self.requires(crate::jvm::AGENT_INSTALL.install());
        }
        self
    }

    /// The command line: a JVM from an install (with the arguments of
    /// [`observe`](Self::observe), if it was called before).
    pub fn java(mut self, mut command: JavaCommand) -> Self {
        if let Some(observation) = self.observation {
            for arg in observation.jvm_args(&self.dir) {
                command = command.jvm_arg(arg);
            }
            let dir = JvmObservation::dir(&self.dir);
            self = self.dir(&dir);
            if let Some(path) = observation.agent_config_path(&self.dir) {
                self = self.file(&path, AGENT_CONFIG);
            }
        }
        self.command(command.render())
    }

    /// The command line, as a shell command (quote its words).
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    /// Where the process's stdout and stderr go (default `<dir>/<service>.log`).
    pub fn log_file(mut self, path: &str) -> Self {
        self.log = path.to_string();
        self
    }

    /// Where the pid goes (default `<dir>/<service>.pid`).
    pub fn pid_file(mut self, path: &str) -> Self {
        self.pidfile = path.to_string();
        self
    }

    /// Adds a readiness condition; the conditions are awaited in order, under one deadline.
    pub fn ready_when(mut self, readiness: Readiness) -> Self {
        self.readiness.push(readiness);
        self
    }

    /// How long the start may take until every readiness condition holds (for
    /// [`Readiness::LogLineProgressing`]: how long it may go without progress).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long a clean stop waits after SIGTERM before SIGKILL.
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// The log file on the node.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The pid file on the node.
    pub fn pidfile(&self) -> &str {
        &self.pidfile
    }

    /// The rendered command line.
    pub fn command_line(&self) -> &str {
        &self.command
    }

    /// The installs the process requires.
    pub fn installs(&self) -> &[Install] {
        &self.installs
    }

    /// What the file at `path` will hold, and whether it is private (mode 0600); `None` when
    /// the spec writes no such file.
    pub fn file_at(&self, path: &str) -> Option<(&str, bool)> {
        self.files
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, content, private)| (content.as_str(), *private))
    }

    fn files_of_process(&self) -> ProcessFiles {
        ProcessFiles::new(&self.service, self.dir.clone(), self.pidfile.clone())
    }

    /// Checks the installs, writes the files, starts the command in the background and waits
    /// for every readiness condition. If the process dies meanwhile, fails at once with its
    /// log's tail. The same as [`prepare`](Self::prepare) then [`launch`](Self::launch).
    pub async fn start(&self, node: &Node) -> Result<(), ServiceError> {
        self.prepare(node).await?;
        self.launch(node).await
    }

    /// The first half of [`start`](Self::start): checks the installs, makes the directory
    /// (emptied first with [`fresh_dir`](Self::fresh_dir)) and writes the files. A service with a step of its own before the process starts (Kafka
    /// formats its storage) runs it between `prepare` and [`launch`](Self::launch).
    pub async fn prepare(&self, node: &Node) -> Result<(), ServiceError> {
        let name = self.service.as_str();
        if self.command.is_empty() {
            return Err(ServiceError::Usage {
                service: name.to_string(),
                detail: "the process spec has no command".into(),
            });
        }
        for install in &self.installs {
            install.check(name, node).await?;
        }
        let account = node.account();
        if self.fresh {
            account.remove(&self.dir).await.ctx(name)?;
        }
        account.mkdirs(&self.dir).await.ctx(name)?;
        for dir in &self.dirs {
            account.mkdirs(dir).await.ctx(name)?;
        }
        for (path, content, private) in &self.files {
            if *private {
                let command = format!(
                    "umask 077 && mkdir -p \"$(dirname {p})\" && cat > {p} && chmod 600 {p}",
                    p = ducttape_core::remote::quote(path)
                );
                account
                    .ssh_with(
                        &command,
                        Some(content.as_bytes().to_vec()),
                        Duration::from_secs(30),
                    )
                    .await
                    .ctx(name)?;
                continue;
            }
            if let Some((parent, _)) = path.rsplit_once('/') {
                if !parent.is_empty() && parent != self.dir {
                    account.mkdirs(parent).await.ctx(name)?;
                }
            }
            account
                .create_file(path, content.as_bytes())
                .await
                .ctx(name)?;
        }
        Ok(())
    }

    /// The second half of [`start`](Self::start): starts the command in the background and
    /// waits for every readiness condition under the start timeout (none: returns once it
    /// is spawned, as a worker that runs to its end does).
    pub async fn launch(&self, node: &Node) -> Result<(), ServiceError> {
        let name = self.service.as_str();
        let account = node.account();
        if self.readiness.is_empty() {
            return account
                .spawn(&self.command, &self.log, &self.pidfile)
                .await
                .ctx(name)
                .map(drop);
        }
        let log = account.monitor_log(&self.log).await.ctx(name)?;
        account
            .spawn(&self.command, &self.log, &self.pidfile)
            .await
            .ctx(name)?;
        let watched = Watched {
            service: name,
            node,
            pidfile: &self.pidfile,
            log: &log,
        };
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        for (i, readiness) in self.readiness.iter().enumerate() {
            // The first condition gets the timeout as given (for a progressing wait it is
            // the quiet time allowed, which an error reports).
            let left = match i {
                0 => self.start_timeout,
                _ => deadline.saturating_duration_since(tokio::time::Instant::now()),
            };
            match readiness
                .wait(&watched, left.max(Duration::from_secs(1)))
                .await
            {
                // A port or an HTTP answer that never came: what the process said is the clue.
                Err(ServiceError::Timeout {
                    service,
                    node: n,
                    after,
                    detail,
                }) => {
                    let tail = account
                        .ssh_output(&format!(
                            "tail -n 30 {} 2>/dev/null; true",
                            ducttape_core::remote::quote(&self.log)
                        ))
                        .await
                        .unwrap_or_default();
                    return Err(ServiceError::Timeout {
                        service,
                        node: n,
                        after,
                        detail: format!(
                            "{detail}\n--- {} (last lines) ---\n{}",
                            self.log,
                            tail.trim_end()
                        ),
                    });
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Stops the process: SIGTERM and up to the stop grace when `clean`, else SIGKILL. A clean
    /// stop that had to end in SIGKILL is logged as a warning. Returns how it ended.
    pub async fn stop(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        let outcome = node
            .account()
            .stop(&self.pidfile, clean, self.stop_grace)
            .await
            .ctx(&self.service)?;
        if clean && outcome == StopOutcome::Killed {
            tracing::warn!(
                service = %self.service,
                node = node.name(),
                grace = ?self.stop_grace,
                "did not exit after SIGTERM; killed"
            );
        }
        Ok(outcome)
    }

    /// Kills the process and removes its directory.
    pub async fn clean(&self, node: &Node) -> Result<(), ServiceError> {
        self.files_of_process().clean(node).await
    }

    /// The process's pid, if it runs.
    pub async fn pids(&self, node: &Node) -> Result<Vec<u32>, ServiceError> {
        self.files_of_process().pids(node).await
    }
}
