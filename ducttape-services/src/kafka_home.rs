//! The Kafka under test from the user's own build, as kafkatest's `DEV_BRANCH`:
//! `DUCTTAPE_KAFKA_HOME=/path` makes [`KafkaVersion::DEFAULT`](crate::KafkaVersion::DEFAULT) —
//! every scenario that does not pin a version — run on it.
//!
//! Three layouts are accepted:
//! - an extracted release tarball (`libs/*.jar`, with `bin/` and `config/` beside it);
//! - a release tarball itself (`.tgz` / `.tar.gz`, from `./gradlew releaseTarGz`), extracted
//!   once into the cache, keyed by the file's path, size and modification time;
//! - a Kafka source tree after `./gradlew jar`: its jars are found as `bin/kafka-run-class.sh`
//!   finds them (`core/build/dependant-libs-<scala>*/`, `clients/build/libs/kafka-clients*.jar`,
//!   `tools/build/…`, `connect/<module>/build/…`, `core/build/libs/kafka_<scala>*.jar`, …,
//!   leaving out `-test`, `-sources`, `-javadoc`, `-scaladoc` jars).
//!
//! Whatever the layout, the jars are gathered (hard links, or copies across file systems) into
//! a home of the same shape as `build.sh`'s installs — `libs/` and ducttape's `config/`
//! logging files (those `build.sh` wrote for the default install of the same major version:
//! the servers' logs must go to stdout) — under [`CACHE_ENV`] (default
//! `/var/tmp/ducttape-kafka-homes`, outside the nodes' private `/tmp`, `/mnt` and `/root`).
//! The home is keyed by the jars' paths, sizes and modification times: a rebuild makes a new
//! one. The version named by `kafka-clients-<version>.jar` picks the logging config and whether
//! ZooKeeper mode exists; the version that runs is read from the broker's own log
//! ("Kafka version: …", see `KafkaService::results`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The setting naming the user's Kafka: a release directory, a `.tgz`, or a built source tree.
pub const KAFKA_HOME_ENV: &str = "DUCTTAPE_KAFKA_HOME";

/// Where prepared homes (and extracted tarballs) are kept; default
/// `/var/tmp/ducttape-kafka-homes`. It must be visible to the nodes at the same path.
pub const CACHE_ENV: &str = "DUCTTAPE_KAFKA_HOME_CACHE";

const DEFAULT_CACHE: &str = "/var/tmp/ducttape-kafka-homes";

/// A Kafka home that cannot be used: names the path and what is wrong or missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{KAFKA_HOME_ENV}={}: {problem}", path.display())]
pub struct KafkaHomeError {
    /// The path given.
    pub path: PathBuf,
    /// What is wrong or missing.
    pub problem: KafkaHomeProblem,
}

/// What is wrong with a Kafka home or missing from it (see [`KafkaHomeError`], which adds the
/// path given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaHomeProblem {
    /// A file or directory could not be read or written (the OS's reason as text: the error
    /// is cloned into every version that names the home).
    #[error("cannot {action} {}: {reason}", .path.display())]
    Io {
        /// What was being done (`read`, `create`, `copy`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS's reason.
        reason: String,
    },
    /// A file that is not a release tarball.
    #[error(
        "a file, but not a release tarball (.tgz or .tar.gz, as ./gradlew releaseTarGz makes)"
    )]
    NotATarball,
    /// `tar` could not extract the tarball.
    #[error("tar could not extract it: {detail}")]
    Tar {
        /// `tar`'s complaint, or why it could not run.
        detail: String,
    },
    /// The extracted tarball has no `libs/`.
    #[error("the tarball (extracted in {}) has no libs/ directory, neither at its top nor in its one top directory: not a Kafka release tarball", .extracted.display())]
    TarballWithoutLibs {
        /// Where it was extracted.
        extracted: PathBuf,
    },
    /// A release's `libs/` without jars.
    #[error("{} holds no jars", .libs.display())]
    NoJars {
        /// The `libs/` directory.
        libs: PathBuf,
    },
    /// Neither layout.
    #[error("neither a Kafka release (no libs/ with jars) nor a Kafka source tree (no clients/ or core/)")]
    NotKafka,
    /// A source tree without `core/build/`.
    #[error("a Kafka source tree that is not built (no core/build/): run ./gradlew jar in it")]
    SourceNotBuilt,
    /// A source tree whose build directories hold no jars.
    #[error("a Kafka source tree without built jars (core/build/dependant-libs-*, */build/libs are empty): run ./gradlew jar in it")]
    SourceWithoutJars,
    /// No `kafka-clients-<version>.jar`: the version cannot be told.
    #[error("no kafka-clients-<version>.jar among its jars: which Kafka is it?")]
    NoClientsJar,
    /// No broker jar.
    #[error("no kafka_<scala>-{version}.jar (the broker, kafka.Kafka) among its jars{}", if *.source_tree { "; run ./gradlew jar in it" } else { "" })]
    NoBrokerJar {
        /// The version its clients jar names.
        version: String,
        /// Whether it is a source tree (then building it is the fix).
        source_tree: bool,
    },
}

impl KafkaHomeProblem {
    fn io(action: &'static str, path: &Path, e: &std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// How the user's Kafka is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// An extracted release tarball: `libs/*.jar`.
    Release,
    /// A release tarball (`.tgz`), extracted into the cache.
    Tarball,
    /// A source tree after `./gradlew jar`.
    SourceTree,
}

/// The user's Kafka, ready to run: its jars gathered under [`KafkaHome::home`]`/libs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaHome {
    /// The path given.
    pub source: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// The version its `kafka-clients-<version>.jar` names (e.g. `4.1.0-SNAPSHOT`).
    pub version: String,
    /// The jars, in the order `kafka-run-class.sh` puts them on the classpath.
    pub classpath: Vec<PathBuf>,
    /// The prepared home (`libs/`, `config/`), the same shape as `build.sh`'s installs.
    pub home: PathBuf,
}

/// The user's Kafka named by [`KAFKA_HOME_ENV`], prepared once per process (`None`: unset).
pub fn from_env() -> Option<&'static Result<KafkaHome, KafkaHomeError>> {
    static HOME: OnceLock<Option<Result<KafkaHome, KafkaHomeError>>> = OnceLock::new();
    HOME.get_or_init(|| {
        let path = std::env::var_os(KAFKA_HOME_ENV).filter(|p| !p.is_empty())?;
        let cache = std::env::var_os(CACHE_ENV)
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_CACHE), PathBuf::from);
        let prepared = prepare(Path::new(&path), &cache);
        match &prepared {
            Ok(h) => tracing::info!(
                source = %h.source.display(), layout = ?h.layout, version = %h.version,
                home = %h.home.display(), jars = h.classpath.len(), "Kafka under test from {KAFKA_HOME_ENV}"
            ),
            Err(e) => tracing::error!(error = %e, "{KAFKA_HOME_ENV} is unusable"),
        }
        Some(prepared)
    })
    .as_ref()
}

/// Finds the jars of the Kafka at `path` (any of the three layouts) and gathers them into a
/// home under `cache`.
pub fn prepare(path: &Path, cache: &Path) -> Result<KafkaHome, KafkaHomeError> {
    let err = |problem: KafkaHomeProblem| KafkaHomeError {
        path: path.to_path_buf(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(KafkaHomeProblem::io("read", path, &e)))?;
    let (layout, dir) = if meta.is_file() {
        let name = path.to_string_lossy();
        if !(name.ends_with(".tgz") || name.ends_with(".tar.gz")) {
            return Err(err(KafkaHomeProblem::NotATarball));
        }
        (Layout::Tarball, extract(path, &meta, cache).map_err(err)?)
    } else {
        (Layout::Release, path.to_path_buf())
    };
    let (found, classpath) = classpath(&dir).map_err(err)?;
    let layout = if layout == Layout::Tarball {
        Layout::Tarball
    } else {
        found
    };
    let version = clients_version(&classpath).ok_or_else(|| err(KafkaHomeProblem::NoClientsJar))?;
    if !classpath
        .iter()
        .any(|j| file_name(j).starts_with("kafka_2."))
    {
        return Err(err(KafkaHomeProblem::NoBrokerJar {
            version,
            source_tree: layout == Layout::SourceTree,
        }));
    }
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    // The logging config build.sh wrote for the default install of the same generation.
    let config = if major < 4 {
        "/opt/kafka-3.9.2/config"
    } else {
        "/opt/kafka-4.4.0/config"
    };
    let home = gather(&classpath, Path::new(config), cache, &version).map_err(err)?;
    Ok(KafkaHome {
        source: path.to_path_buf(),
        layout,
        version,
        classpath,
        home,
    })
}

/// The jars of the Kafka in `dir` and its layout: a release's `libs/`, or a source tree's
/// jars in `bin/kafka-run-class.sh`'s order.
pub fn classpath(dir: &Path) -> Result<(Layout, Vec<PathBuf>), KafkaHomeProblem> {
    let libs = dir.join("libs");
    if libs.is_dir() {
        let jars = jars_in(&libs, "");
        if jars.is_empty() {
            return Err(KafkaHomeProblem::NoJars { libs });
        }
        return Ok((Layout::Release, jars));
    }
    let core_build = dir.join("core/build");
    if !dir.join("clients").is_dir() && !dir.join("core").is_dir() {
        return Err(KafkaHomeProblem::NotKafka);
    }
    if !core_build.is_dir() {
        return Err(KafkaHomeProblem::SourceNotBuilt);
    }
    // kafka-run-class.sh: SCALA_VERSION from gradle.properties (`scalaVersion=`), its binary
    // version the first two numbers.
    let scala = std::fs::read_to_string(dir.join("gradle.properties"))
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                l.strip_prefix("scalaVersion=")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_default();
    let binary = if scala.is_empty() {
        "2.13".to_string()
    } else {
        scala.split('.').take(2).collect::<Vec<_>>().join(".")
    };
    let mut cp = Vec::new();
    let dependant = |base: &Path| -> Vec<PathBuf> {
        subdirs(base, &format!("dependant-libs-{scala}"))
            .iter()
            .flat_map(|d| jars_in(d, ""))
            .collect()
    };
    cp.extend(dependant(&core_build));
    cp.extend(jars_in(&dir.join("examples/build/libs"), "kafka-examples"));
    cp.extend(jars_in(&dir.join("clients/build/libs"), "kafka-clients"));
    cp.extend(jars_in(&dir.join("streams/build/libs"), "kafka-streams"));
    cp.extend(jars_in(
        &dir.join("streams/examples/build/libs"),
        "kafka-streams-examples",
    ));
    cp.extend(jars_in(
        &dir.join(format!("streams/build/dependant-libs-{scala}")),
        "rocksdb",
    ));
    cp.extend(jars_in(&dir.join("tools/build/libs"), "kafka-tools"));
    cp.extend(dependant(&dir.join("tools/build")));
    for module in [
        "api",
        "transforms",
        "runtime",
        "file",
        "mirror",
        "mirror-client",
        "json",
        "tools",
        "basic-auth-extension",
    ] {
        let base = dir.join("connect").join(module).join("build");
        cp.extend(jars_in(&base.join("libs"), &format!("connect-{module}")));
        cp.extend(jars_in(&base.join("dependant-libs"), ""));
    }
    cp.extend(jars_in(
        &dir.join("core/build/libs"),
        &format!("kafka_{binary}"),
    ));
    if cp.is_empty() {
        return Err(KafkaHomeProblem::SourceWithoutJars);
    }
    Ok((Layout::SourceTree, cp))
}

/// `*.jar` files in `dir` whose names start with `prefix`, sorted, without the ones
/// `kafka-run-class.sh` leaves out (`-test`, `-test-sources`, `-src`, `-sources`, `-scaladoc`,
/// `-javadoc`).
fn jars_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut jars: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = file_name(p);
            name.starts_with(prefix)
                && name.ends_with(".jar")
                && ![
                    "-test.jar",
                    "-test-sources.jar",
                    "-src.jar",
                    "-sources.jar",
                    "-scaladoc.jar",
                    "-javadoc.jar",
                ]
                .iter()
                .any(|s| name.ends_with(s))
                && p.is_file()
        })
        .collect();
    jars.sort();
    jars
}

/// Directories in `base` whose names start with `prefix`, sorted.
fn subdirs(base: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| file_name(p).starts_with(prefix) && p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The version in `kafka-clients-<version>.jar`.
fn clients_version(classpath: &[PathBuf]) -> Option<String> {
    classpath.iter().find_map(|j| {
        file_name(j)
            .strip_prefix("kafka-clients-")
            .and_then(|v| v.strip_suffix(".jar"))
            .map(str::to_string)
    })
}

/// FNV-1a: a stable key for the cache.
fn fnv(data: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `path|size|mtime` of a file, what the cache keys on.
fn stamp(path: &Path, meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}|{}|{mtime}\n", path.display(), meta.len())
}

/// Builds `dest` with `build` in a temporary directory beside it and moves it into place; an
/// existing `dest` (another process made the same one) is used as is.
fn build_once(
    dest: &Path,
    build: impl FnOnce(&Path) -> Result<(), KafkaHomeProblem>,
) -> Result<(), KafkaHomeProblem> {
    if dest.is_dir() {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)
        .map_err(|e| KafkaHomeProblem::io("create the cache", parent, &e))?;
    let tmp = parent.join(format!(".{}.tmp.{}", file_name(dest), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| KafkaHomeProblem::io("create", &tmp, &e))?;
    let built = build(&tmp);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dest.is_dir() {
            return Err(KafkaHomeProblem::io("move into place", dest, &e));
        }
    }
    Ok(())
}

/// Extracts the tarball once into the cache; returns the directory holding its `libs/`.
fn extract(
    path: &Path,
    meta: &std::fs::Metadata,
    cache: &Path,
) -> Result<PathBuf, KafkaHomeProblem> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dest = cache.join(format!("tgz-{}", fnv(&stamp(&canonical, meta))));
    build_once(&dest, |tmp| {
        let out = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&canonical)
            .arg("-C")
            .arg(tmp)
            .output()
            .map_err(|e| KafkaHomeProblem::Tar {
                detail: format!("cannot run tar: {e}"),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(KafkaHomeProblem::Tar {
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    })?;
    // A release tarball holds one directory, kafka_<scala>-<version>/.
    if dest.join("libs").is_dir() {
        return Ok(dest);
    }
    let inner = subdirs(&dest, "");
    match inner.as_slice() {
        [one] if one.join("libs").is_dir() => Ok(one.clone()),
        _ => Err(KafkaHomeProblem::TarballWithoutLibs { extracted: dest }),
    }
}

/// Gathers `classpath` into `<cache>/home-<key>/libs` (first jar of a name wins, as on the
/// classpath) with `config`'s files beside it.
fn gather(
    classpath: &[PathBuf],
    config: &Path,
    cache: &Path,
    version: &str,
) -> Result<PathBuf, KafkaHomeProblem> {
    let mut key = format!("{version}\n{}\n", config.display());
    for jar in classpath {
        let meta = std::fs::metadata(jar).map_err(|e| KafkaHomeProblem::io("read", jar, &e))?;
        key.push_str(&stamp(jar, &meta));
    }
    let dest = cache.join(format!("home-{version}-{}", fnv(&key)));
    build_once(&dest, |tmp| {
        let libs = tmp.join("libs");
        let conf = tmp.join("config");
        std::fs::create_dir_all(&libs).map_err(|e| KafkaHomeProblem::io("create", &libs, &e))?;
        std::fs::create_dir_all(&conf).map_err(|e| KafkaHomeProblem::io("create", &conf, &e))?;
        let mut seen = std::collections::BTreeSet::new();
        let mut listing = String::new();
        for jar in classpath {
            let name = file_name(jar);
            if !seen.insert(name.clone()) {
                continue;
            }
            let to = libs.join(&name);
            if std::fs::hard_link(jar, &to).is_err() {
                std::fs::copy(jar, &to).map_err(|e| KafkaHomeProblem::io("copy", jar, &e))?;
            }
            let _ = writeln!(listing, "{}", jar.display());
        }
        let entries = std::fs::read_dir(config).map_err(|e| {
            KafkaHomeProblem::io(
                "read ducttape's logging config (run ./build.sh) in",
                config,
                &e,
            )
        })?;
        for entry in entries.flatten() {
            let from = entry.path();
            if from.is_file() {
                std::fs::copy(&from, conf.join(entry.file_name()))
                    .map_err(|e| KafkaHomeProblem::io("copy", &from, &e))?;
            }
        }
        let listed = tmp.join(".ducttape-kafka-home");
        std::fs::write(&listed, listing).map_err(|e| KafkaHomeProblem::io("write", &listed, &e))?;
        set_readable(tmp);
        Ok(())
    })?;
    Ok(dest)
}

/// Makes the gathered home readable by every user (the nodes' JVMs run as root here, but a
/// cache shared between users should not depend on that).
fn set_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["", "libs", "config"] {
        let d = dir.join(sub);
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jars_in_leaves_out_what_kafka_run_class_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "kafka-clients-4.1.0.jar",
            "kafka-clients-4.1.0-test.jar",
            "kafka-clients-4.1.0-sources.jar",
            "kafka-clients-4.1.0-javadoc.jar",
            "kafka-clients-4.1.0.jar.asc",
            "other-1.jar",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let found: Vec<String> = jars_in(dir.path(), "kafka-clients")
            .iter()
            .map(|p| file_name(p))
            .collect();
        assert_eq!(found, ["kafka-clients-4.1.0.jar"]);
        assert_eq!(
            clients_version(&jars_in(dir.path(), "")).as_deref(),
            Some("4.1.0")
        );
    }

    #[test]
    fn unknown_and_unbuilt_homes_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let e = classpath(dir.path()).unwrap_err().to_string();
        assert!(e.contains("neither a Kafka release"), "{e}");
        std::fs::create_dir_all(dir.path().join("core/src")).unwrap();
        let e = classpath(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("not built") && e.contains("./gradlew jar"),
            "{e}"
        );
        std::fs::create_dir_all(dir.path().join("libs")).unwrap();
        let e = classpath(dir.path()).unwrap_err().to_string();
        assert!(e.contains("holds no jars"), "{e}");
        let missing = prepare(&dir.path().join("absent"), dir.path()).unwrap_err();
        assert!(
            missing.to_string().starts_with("DUCTTAPE_KAFKA_HOME="),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("absent: cannot read "),
            "{missing}"
        );
    }
}
