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

use crate::error::{ResultExt, ServiceError};
use crate::install::Install;
use crate::install::JavaCommand;
use crate::readiness::{Readiness, Watched};
use crate::service::ProcessFiles;

/// One process of a service on a node.
///
/// ```
/// use std::time::Duration;
/// use ducttape_services::{KafkaVersion, Readiness};
/// use ducttape_services::process::ProcessSpec;
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
    installs: Vec<Install>,
    files: Vec<(String, String)>,
    command: String,
    log: String,
    pidfile: String,
    readiness: Vec<Readiness>,
    start_timeout: Duration,
    stop_grace: Duration,
}

impl ProcessSpec {
    /// The process of `service` living in `dir` (created at start, removed by
    /// [`clean`](Self::clean)); its output goes to `<dir>/<service>.log`, its pid to
    /// `<dir>/<service>.pid`. No command yet; a 60 s start timeout and a 30 s stop grace.
    pub fn new(service: &str, dir: &str) -> Self {
        Self {
            service: service.to_string(),
            dir: dir.to_string(),
            installs: Vec::new(),
            files: Vec::new(),
            command: String::new(),
            log: format!("{dir}/{service}.log"),
            pidfile: format!("{dir}/{service}.pid"),
            readiness: Vec::new(),
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(30),
        }
    }

    /// An install that must be on the node before anything is written there.
    pub fn requires(mut self, install: Install) -> Self {
        self.installs.push(install);
        self
    }

    /// A file written (replaced) on the node before the process starts.
    pub fn file(mut self, path: &str, content: impl Into<String>) -> Self {
        self.files.push((path.to_string(), content.into()));
        self
    }

    /// The command line: a JVM from an install.
    pub fn java(self, command: JavaCommand) -> Self {
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

    /// Adds a readiness condition; the conditions are awaited in order, under one deadline.
    pub fn ready_when(mut self, readiness: Readiness) -> Self {
        self.readiness.push(readiness);
        self
    }

    /// How long the start may take until every readiness condition holds.
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

    fn files_of_process(&self) -> ProcessFiles {
        ProcessFiles::new(&self.service, self.dir.clone(), self.pidfile.clone())
    }

    /// Checks the installs, writes the files, starts the command in the background and waits
    /// for every readiness condition. If the process dies meanwhile, fails at once with its
    /// log's tail.
    pub async fn start(&self, node: &Node) -> Result<(), ServiceError> {
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
        account.mkdirs(&self.dir).await.ctx(name)?;
        for (path, content) in &self.files {
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
        for readiness in &self.readiness {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            readiness
                .wait(&watched, left.max(Duration::from_secs(1)))
                .await?;
        }
        Ok(())
    }

    /// Stops the process: SIGTERM and up to the stop grace when `clean`, else SIGKILL.
    pub async fn stop(&self, node: &Node, clean: bool) -> Result<(), ServiceError> {
        self.files_of_process()
            .stop(node, clean, self.stop_grace)
            .await
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
