//! Thread dumps of a service's JVMs, taken when a test failed or timed out, before teardown
//! kills them: `jcmd <pid> Thread.print -l` on the node, into
//! `<test results>/<service>/<node>/threads-<pid>.txt`.
//!
//! A JVM stopped by SIGSTOP (a pause fault, or a JVM that hung that way) cannot answer jcmd:
//! the attach listener that would print the dump is a thread of the stopped process. So the
//! dump of a stopped JVM holds first what the kernel shows of it while stopped (each thread's
//! id, name and state, from `/proc`), then — after SIGCONT, since the JVM is about to be killed
//! anyway — jcmd's dump of it just continued: the Java stacks as they were when it was stopped,
//! give or take the first instructions after it went on. The file says which case it is. If
//! jcmd fails, the JVM is sent SIGQUIT, which makes it print the dump to its own output (the
//! service's log, collected with the other logs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::{NodeProcess, RemoteError};
use futures::future::join_all;

use crate::service::Service;

/// How long one JVM's dump may take.
const DUMP_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a process is a JVM (its command is `java …` or `…/java …`).
fn is_jvm(p: &NodeProcess) -> bool {
    let program = p.command.split_whitespace().next().unwrap_or_default();
    program == "java" || program.ends_with("/java")
}

/// The shell script that dumps `pid`'s threads (see the module's doc).
fn dump_script(pid: u32) -> String {
    format!(
        r##"pid={pid}
state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/$pid/status 2>/dev/null)
echo "# threads of JVM pid $pid on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ); process state ${{state:-gone}}"
if [ "$state" = T ]; then
  echo "# This JVM was STOPPED (SIGSTOP): a stopped JVM cannot answer jcmd, its attach listener is one of its stopped threads."
  echo "# Its threads as the kernel shows them while stopped (tid, state, name):"
  for t in /proc/$pid/task/*; do
    echo "#   ${{t##*/}} $(sed -n 's/^State:[[:space:]]*//p' $t/status) $(cat $t/comm)"
  done
  echo "# Then SIGCONT, and jcmd's dump of the JVM just continued (its stacks as they were when stopped, give or take the first instructions after):"
  kill -CONT $pid
fi
if ! timeout 30 jcmd $pid Thread.print -l 2>&1; then
  echo "# jcmd failed: sent SIGQUIT instead, the JVM prints its dump to its own output (the service's log)"
  kill -QUIT $pid
fi
"##
    )
}

/// Why thread dumps of a service's JVMs are missing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DumpError {
    /// The service could not say which processes it runs on the node.
    #[error("{node}: cannot find the service's processes: {source}")]
    Pids {
        node: String,
        #[source]
        source: crate::ServiceError,
    },
    /// The node could not list them.
    #[error("{node}: cannot list processes: {source}")]
    Processes {
        node: String,
        #[source]
        source: RemoteError,
    },
    /// The dump command failed.
    #[error("{node}: thread dump of pid {pid}: {source}")]
    Dump {
        node: String,
        pid: u32,
        #[source]
        source: RemoteError,
    },
    /// The dump could not be written here.
    #[error("{}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Several nodes failed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<DumpError>),
}

/// Dumps every JVM of `service` on every node into `dest/<node>/threads-<pid>.txt`; returns
/// the files written. A node that fails does not stop the others; the errors are gathered.
pub(crate) async fn thread_dumps<S: Service + ?Sized>(
    service: &S,
    dest: &Path,
) -> Result<Vec<PathBuf>, DumpError> {
    let per_node =
        service.nodes().iter().map(|node| async move {
            let pids = service.pids(node).await.map_err(|source| DumpError::Pids {
                node: node.name().to_string(),
                source,
            })?;
            let processes = node.account().processes_of(&pids).await.map_err(|source| {
                DumpError::Processes {
                    node: node.name().to_string(),
                    source,
                }
            })?;
            let mut files = Vec::new();
            for p in processes.iter().filter(|p| is_jvm(p)) {
                files.push(dump_one(node, p.pid, &dest.join(node.name())).await?);
            }
            Ok::<_, DumpError>(files)
        });
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for result in join_all(per_node).await {
        match result {
            Ok(mut f) => files.append(&mut f),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(files),
        1 => Err(errors.remove(0)),
        _ => Err(DumpError::Several(errors)),
    }
}

async fn dump_one(node: &Node, pid: u32, dir: &Path) -> Result<PathBuf, DumpError> {
    let text = node
        .account()
        .with_timeout(DUMP_TIMEOUT)
        .ssh_output(&dump_script(pid))
        .await
        .map_err(|source| DumpError::Dump {
            node: node.name().to_string(),
            pid,
            source,
        })?;
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DumpError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write(dir))?;
    let path = dir.join(format!("threads-{pid}.txt"));
    std::fs::write(&path, text).map_err(write(&path))?;
    tracing::info!(node = node.name(), pid, path = %path.display(), "thread dump collected");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jvms_are_told_from_their_shells() {
        let p = |command: &str| NodeProcess {
            node: "worker1".into(),
            pid: 1,
            command: command.into(),
        };
        assert!(is_jvm(&p("java -Xmx1g -cp x kafka.Kafka a")));
        assert!(is_jvm(&p("/usr/lib/jvm/java-17/bin/java -cp x Main")));
        assert!(!is_jvm(&p("sh -c java -cp x Main")));
        assert!(!is_jvm(&p("javac x")));
    }
}
