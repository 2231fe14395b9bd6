//! What the HTML pages share.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn rel_dir(run_dir: &Path, summary_path: &Path) -> PathBuf {
    summary_path
        .parent()
        .and_then(|p| p.strip_prefix(run_dir).ok())
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub(super) fn secs(v: &Value) -> String {
    v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_default()
}

pub(super) const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px}\
td,th{padding:2px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#1a7f37}.fail,.timeout,.error,.Worse{color:#c62828;font-weight:bold}.skipped{color:#777}\
.Better{color:#1a7f37}pre{background:#f6f8fa;padding:6px}figure{margin:1em 0}";
