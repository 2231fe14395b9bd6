//! One-shot produce and consume attempts with a given [`ClientSecurity`], run to the end on a
//! node, whose output says whether the records got through and, if not, why ([`Refusal`]).
//! They are how the security scenarios show the wrong party refused for the right reason.

use std::time::Duration;

use ducttape_core::cluster::Node;

use super::security::{ClientSecurity, Refusal};
use super::KafkaService;
use crate::error::{ResultExt, ServiceError};
use crate::properties::Properties;

/// What a produce or consume attempt did.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Records acknowledged (produce) or read (consume).
    pub records: u64,
    /// The tool's exit code (`None`: killed by a signal).
    pub exit: Option<u32>,
    /// Its stdout and stderr.
    pub output: String,
}

impl Attempt {
    /// Why it was refused, from its output (see [`Refusal::find`]).
    pub fn refusal(&self) -> Option<Refusal> {
        Refusal::find(&self.output)
    }
}

/// Each attempt's own directory on the node (attempts may run side by side).
fn attempt_dir() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("/tmp/ducttape-kafka-attempt-{}-{n}", std::process::id())
}

impl KafkaService {
    /// Produces `n` records (`<i>`) to `topic` from `node` as `security` says, with the
    /// VerifiableProducer (`acks=all`), waiting at most ≈ 10 s for metadata per record.
    pub async fn try_produce(
        &self,
        node: &Node,
        security: &ClientSecurity,
        topic: &str,
        n: u64,
    ) -> Result<Attempt, ServiceError> {
        let extra: Properties = [
            ("max.block.ms", "10000"),
            ("delivery.timeout.ms", "15000"),
            ("request.timeout.ms", "10000"),
        ]
        .into_iter()
        .collect();
        let dir = attempt_dir();
        let file = format!("{dir}/producer.properties");
        let tool = security
            .apply(
                self.version()
                    .tool("org.apache.kafka.tools.VerifiableProducer"),
                &dir,
            )
            .args([
                "--topic".to_string(),
                topic.into(),
                "--bootstrap-server".into(),
                self.bootstrap_servers(),
                "--max-messages".into(),
                n.to_string(),
                "--acks".into(),
                "-1".into(),
                "--producer.config".into(),
                file.clone(),
            ]);
        let out = self
            .attempt(node, security, (&dir, &file), &extra, &tool.render())
            .await?;
        let records = out
            .output
            .lines()
            .filter(|l| l.contains("\"producer_send_success\""))
            .count() as u64;
        Ok(Attempt { records, ..out })
    }

    /// Reads up to `n` records of `topic` from the beginning as group `group`, from `node` as
    /// `security` says, with the console consumer (giving up after 20 s without a record).
    pub async fn try_consume(
        &self,
        node: &Node,
        security: &ClientSecurity,
        topic: &str,
        group: &str,
        n: u64,
    ) -> Result<Attempt, ServiceError> {
        let extra: Properties = [
            ("request.timeout.ms", "10000"),
            ("default.api.timeout.ms", "15000"),
        ]
        .into_iter()
        .collect();
        let dir = attempt_dir();
        let file = format!("{dir}/consumer.properties");
        let tool = security
            .apply(
                self.version()
                    .tool("org.apache.kafka.tools.consumer.ConsoleConsumer"),
                &dir,
            )
            .args([
                "--topic".to_string(),
                topic.into(),
                "--bootstrap-server".into(),
                self.bootstrap_servers(),
                "--group".into(),
                group.into(),
                "--from-beginning".into(),
                "--max-messages".into(),
                n.to_string(),
                "--timeout-ms".into(),
                "20000".into(),
                "--consumer.config".into(),
                file.clone(),
            ]);
        let out = self
            .attempt(node, security, (&dir, &file), &extra, &tool.render())
            .await?;
        let records = out
            .output
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Processed a total of ")
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse().ok())
            })
            .unwrap_or(0);
        Ok(Attempt { records, ..out })
    }

    async fn attempt(
        &self,
        node: &Node,
        security: &ClientSecurity,
        (dir, file): (&str, &str),
        extra: &Properties,
        tool: &str,
    ) -> Result<Attempt, ServiceError> {
        // Always a config file (the tools are told to read one), even for PLAINTEXT.
        let mut write = security.write_script(dir, file, extra);
        if write.is_empty() {
            write = format!("mkdir -p {dir} && : > {file} && ");
        }
        // A TLS refusal reaches the client's log only as "SSL handshake failed"; the JSSE's
        // own log says why (untrusted chain, wrong name). Its dumps are dropped below.
        let tool = if security.protocol().uses_tls() {
            tool.replacen("java ", "java -Djavax.net.debug=ssl:handshake ", 1)
        } else {
            tool.to_string()
        };
        let script = format!("{write}{{ {tool}; }} 2>&1; rc=$?; rm -rf {dir}; exit $rc");
        let out = node
            .account()
            .run(&script, None, Duration::from_secs(120))
            .await
            .ctx("kafka")?;
        let exit = match out.status {
            ducttape_core::remote::ExitStatus::Code(c) => Some(c),
            _ => None,
        };
        Ok(Attempt {
            records: 0,
            exit,
            output: without_tls_dumps(&out.stdout_text()),
        })
    }
}

/// `output` without the JSSE debug log's messages and dumps, keeping its errors and warnings
/// (`javax.net.ssl|ERROR|…|Fatal (CERTIFICATE_UNKNOWN): PKIX path building failed…`).
fn without_tls_dumps(output: &str) -> String {
    let mut kept = String::new();
    let mut in_dump = false;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("javax.net.ssl|") {
            in_dump = !(rest.starts_with("ERROR") || rest.starts_with("WARNING"));
            if in_dump {
                continue;
            }
        } else if in_dump
            && (line.is_empty()
                || line.starts_with([' ', '\t', '"', '{', '}', ']', ')', '|'])
                    && !line.starts_with("{\""))
        {
            continue;
        } else {
            in_dump = false;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_dumps_are_dropped_and_errors_kept() {
        let out = "{\"name\":\"startup_complete\"}\n\
javax.net.ssl|DEBUG|10|t|2026-11-30 17:09:36.982 UTC|ClientHello.java:639|Produced ClientHello handshake message (\n\
\"ClientHello\": {\n  \"client version\"      : \"TLSv1.2\",\n}\n)\n\
javax.net.ssl|ERROR|10|t|2026-11-30 17:09:37.001 UTC|TransportContext.java:375|Fatal (CERTIFICATE_UNKNOWN): PKIX path building failed (\n\
\"throwable\" : {\n}\n)\n\
[2026-11-30 17:20:21,212] ERROR Connection to node -1 failed authentication due to: SSL handshake failed\n";
        let kept = without_tls_dumps(out);
        assert_eq!(
            kept.lines().collect::<Vec<_>>(),
            [
                "{\"name\":\"startup_complete\"}",
                "javax.net.ssl|ERROR|10|t|2026-11-30 17:09:37.001 UTC|TransportContext.java:375|Fatal (CERTIFICATE_UNKNOWN): PKIX path building failed (",
                "\"throwable\" : {",
                "}",
                ")",
                "[2026-11-30 17:20:21,212] ERROR Connection to node -1 failed authentication due to: SSL handshake failed",
            ]
        );
    }
}
