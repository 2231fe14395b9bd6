//! A shell's side of [`ClientSecurity`]: the script that writes a JVM client's properties and
//! PEM files on a node, owner-only.

use super::ClientSecurity;
use crate::properties::Properties;

impl ClientSecurity {
    /// A shell snippet that writes the properties file `file` and the PEM files under `dir`,
    /// readable by the owner only, followed by ` && ` — or nothing for PLAINTEXT without
    /// `extra` properties. `extra` are further client properties (tool options).
    pub fn write_script(&self, dir: &str, file: &str, extra: &Properties) -> String {
        use ducttape_core::remote::quote;
        let mut props = self.properties(dir);
        props.extend(extra);
        if props == Properties::new() {
            return String::new();
        }
        let mut script = format!("umask 077 && mkdir -p {} && ", quote(dir));
        for f in self.files(dir) {
            script.push_str(&format!(
                "printf '%s' {} > {} && ",
                quote(&f.contents),
                quote(&f.path)
            ));
        }
        script.push_str(&format!(
            "printf '%s' {} > {} && ",
            quote(&props.render()),
            quote(file)
        ));
        script
    }
}
