//! Kafka builds laid out as a Kafka developer has them, for the scenarios that run on the
//! user's own build (`DUCTTAPE_KAFKA_HOME`, see `ducttape_services::kafka_home`). Gradle
//! cannot run here (its wrapper downloads from outside), so a source tree after `./gradlew jar`
//! is made from the Maven-built 4.4.0 install's jars, placed where Gradle puts them.

use std::path::Path;

/// Where the Maven-built 4.4.0 install is (what the Gradle-shaped tree is made from).
pub const V4_LIBS: &str = "/opt/kafka-4.4.0/libs";

/// Lays out the 4.4.0 install's jars as `./gradlew jar` leaves a source tree at `root`: each
/// Kafka module's jar in `<module>/build/libs` (with the `-test`/`-javadoc` jars Gradle also
/// makes), the broker in `core/build/libs`, everything else in
/// `core/build/dependant-libs-<scala>`. Returns the names of the jars placed (not the decoys),
/// sorted.
pub fn gradle_tree(root: &Path) -> std::io::Result<Vec<String>> {
    let put = |dir: &str, name: &str| -> std::io::Result<()> {
        let d = root.join(dir);
        std::fs::create_dir_all(&d)?;
        let from = Path::new(V4_LIBS).join(name);
        if std::fs::hard_link(&from, d.join(name)).is_err() {
            std::fs::copy(&from, d.join(name))?;
        }
        Ok(())
    };
    std::fs::create_dir_all(root.join("bin"))?;
    std::fs::write(
        root.join("gradle.properties"),
        "group=org.apache.kafka\nversion=4.4.0\nscalaVersion=2.13.16\n",
    )?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(V4_LIBS)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jar") {
            names.push(name);
        }
    }
    names.sort();
    for name in &names {
        let connect = ["api", "transforms", "runtime", "file", "json"]
            .into_iter()
            .find(|m| name.starts_with(&format!("connect-{m}-")));
        if name.starts_with("kafka-clients-") {
            put("clients/build/libs", name)?;
        } else if name.starts_with("kafka-tools-4") {
            put("tools/build/libs", name)?;
        } else if name.starts_with("kafka_2.13-") {
            put("core/build/libs", name)?;
        } else if let Some(m) = connect {
            put(&format!("connect/{m}/build/libs"), name)?;
        } else {
            put("core/build/dependant-libs-2.13.16", name)?;
        }
    }
    // What Gradle also builds and kafka-run-class.sh leaves off the classpath.
    let clients = root.join("clients/build/libs/kafka-clients-4.4.0.jar");
    for decoy in [
        "kafka-clients-4.4.0-test.jar",
        "kafka-clients-4.4.0-javadoc.jar",
    ] {
        std::fs::copy(&clients, root.join("clients/build/libs").join(decoy))?;
    }
    Ok(names)
}
