//! A node's sshd: its keys (generated with `ssh-keygen`), its configuration file, and the
//! known_hosts lines that pin its host key.

use super::cmd::{self, Running};
use super::LocalClusterError;
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Key pairs being generated in parallel; [`KeyGeneration::finish`] waits for them.
pub(super) struct KeyGeneration {
    running: Vec<Running>,
}

impl KeyGeneration {
    /// Starts one `ssh-keygen -t ed25519` per private key path (public key at `<path>.pub`).
    pub fn start(ssh_keygen: &Path, keys: &[(PathBuf, String)]) -> Result<Self, LocalClusterError> {
        let running = keys
            .iter()
            .map(|(path, comment)| {
                let mut keygen = Command::new(ssh_keygen);
                keygen
                    .args([
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        comment.as_str(),
                        "-f",
                    ])
                    .arg(path);
                cmd::start(
                    format!("generating key {}", path.display()),
                    &mut keygen,
                    None,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { running })
    }

    /// Waits until every key exists.
    pub fn finish(self) -> Result<(), LocalClusterError> {
        self.running
            .into_iter()
            .try_for_each(|keygen| keygen.finish().map(drop))
    }
}

/// The settings of one node's sshd, rendered by [`SshdConfig::render`] into the file passed
/// with `-f` (nothing is included from `/etc/ssh`).
#[derive(Debug, Clone)]
pub(super) struct SshdConfig<'a> {
    /// The node's address and port 22.
    pub listen: SocketAddrV4,
    /// The node's private host key.
    pub host_key: &'a Path,
    /// The file holding the cluster's client public key.
    pub authorized_keys: &'a Path,
    /// PAM on: only where root's password is locked (`!` in /etc/shadow), which sshd without
    /// PAM takes as "account locked" and refuses even key logins for.
    pub use_pam: bool,
}

impl SshdConfig<'_> {
    /// The configuration file's text.
    pub fn render(&self) -> String {
        let yes_no = |on: bool| if on { "yes" } else { "no" };
        let settings = [
            ("ListenAddress", self.listen.to_string()),
            ("HostKey", self.host_key.display().to_string()),
            (
                "AuthorizedKeysFile",
                self.authorized_keys.display().to_string(),
            ),
            ("PermitRootLogin", "prohibit-password".into()),
            ("PubkeyAuthentication", "yes".into()),
            ("PasswordAuthentication", "no".into()),
            ("KbdInteractiveAuthentication", "no".into()),
            ("UsePAM", yes_no(self.use_pam).into()),
            ("UseDNS", "no".into()),
            ("StrictModes", "no".into()),
            ("PrintMotd", "no".into()),
            ("PrintLastLog", "no".into()),
            ("X11Forwarding", "no".into()),
            ("MaxSessions", "64".into()),
            ("MaxStartups", "200".into()),
            ("LogLevel", "ERROR".into()),
            ("PidFile", "none".into()),
            ("Subsystem", "sftp internal-sftp".into()),
        ];
        let mut text =
            String::from("# Written by ducttape's local cluster; sshd -f <this file>.\n");
        for (key, value) in settings {
            let _ = writeln!(text, "{key} {value}");
        }
        text
    }
}

/// A known_hosts line for a node: `worker1,10.223.0.11 ssh-ed25519 AAAA…` (comment dropped).
pub(super) fn known_hosts_line(name: &str, address: &str, public_key: &str) -> String {
    let key: Vec<&str> = public_key.split_whitespace().take(2).collect();
    format!("{name},{address} {}\n", key.join(" "))
}

/// Whether root's password field starts with `!`, see [`SshdConfig::use_pam`].
pub(super) fn root_password_locked() -> bool {
    std::fs::read_to_string("/etc/shadow")
        .ok()
        .and_then(|shadow| {
            shadow
                .lines()
                .find_map(|line| line.strip_prefix("root:").map(|rest| rest.starts_with('!')))
        })
        .unwrap_or(false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on the unexpected
mod tests {
    use super::*;

    #[test]
    fn renders_one_setting_per_line() {
        let config = SshdConfig {
            listen: "10.223.0.11:22".parse().unwrap(),
            host_key: Path::new("/s/worker1/ssh_host_ed25519_key"),
            authorized_keys: Path::new("/s/authorized_keys"),
            use_pam: false,
        }
        .render();
        assert!(config.contains("\nListenAddress 10.223.0.11:22\n"));
        assert!(config.contains("\nUsePAM no\n"));
        assert!(config.contains("\nSubsystem sftp internal-sftp\n"));
        assert!(!config.contains("Include"));
    }

    #[test]
    fn known_hosts_line_names_host_and_address() {
        let line = known_hosts_line("worker1", "10.223.0.11", "ssh-ed25519 AAAAC3 root@x\n");
        assert_eq!(line, "worker1,10.223.0.11 ssh-ed25519 AAAAC3\n");
    }
}
