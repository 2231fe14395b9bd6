//! Prometheus's text exposition format (version 0.0.4), as the JMX exporter serves it: one
//! sample a line, `name{label="value",…} value [timestamp]`; `#` lines are comments.

use std::collections::BTreeMap;

/// One line of a scrape: a series (name and labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// The metric name (`UnderReplicatedPartitions`).
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value (`NaN`, `+Inf` as Prometheus writes them).
    pub value: f64,
}

impl PromSample {
    /// The series as Prometheus writes it: `name{a="1",b="2"}`, or `name` without labels.
    pub fn key(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A line the parser could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {detail}: {text}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub detail: String,
    /// The line.
    pub text: String,
}

/// Parses a scrape. Any unreadable line is an error naming it (a half-read scrape would be a
/// series that silently misses values).
///
/// ```
/// use ducttape_services::jvm::parse_exposition;
/// let s = parse_exposition("# HELP x\nLeaderCount{type=\"ReplicaManager\",} 3.0\nup 1\n").unwrap();
/// assert_eq!(s[0].name, "LeaderCount");
/// assert_eq!(s[0].labels["type"], "ReplicaManager");
/// assert_eq!(s[0].value, 3.0);
/// assert_eq!(s[1].key(), "up");
/// ```
pub fn parse_exposition(text: &str) -> Result<Vec<PromSample>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |detail: &str| ParseError {
            line: i + 1,
            detail: detail.to_string(),
            text: line.to_string(),
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        if name.is_empty() {
            return Err(err("no metric name"));
        }
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(after) = rest.strip_prefix('{') {
            let (parsed, tail) = parse_labels(after).map_err(err)?;
            labels = parsed;
            rest = tail;
        }
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| err("the value is not a number"))?,
        };
        out.push(PromSample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// Reads `a="1",b="2",}` (after the `{`); returns the labels and what follows the `}`, or what
/// is wrong (the caller adds the line).
fn parse_labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), &'static str> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("a label without '='")?;
        let key = s[..eq].trim().to_string();
        let after = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("an unfinished escape"),
                },
                Some((j, '"')) => break j,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value"),
            }
        };
        labels.insert(key, value);
        s = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real scrape: Kafka 3.9.2 (KRaft, one broker that took 1,000 records) through the
    /// agent 1.0.1 with `jmx-exporter.yaml`.
    #[test]
    fn reads_a_real_scrape_of_a_broker() {
        let text = include_str!("../../testdata/jmx-exporter-1.0.1-kafka-3.9.2.txt");
        let samples = parse_exposition(text).unwrap();
        assert!(samples.len() > 150, "{}", samples.len());
        let find = |name: &str| samples.iter().find(|s| s.name == name).unwrap();
        let urp = find("UnderReplicatedPartitions");
        assert_eq!(urp.labels["type"], "ReplicaManager");
        assert_eq!(urp.value, 0.0);
        assert_eq!(find("MessagesInPerSec_Count").value, 1000.0);
        assert_eq!(find("ActiveControllerCount").value, 1.0);
        let p99 = samples
            .iter()
            .find(|s| s.name == "TotalTimeMs_99thPercentile" && s.labels["request"] == "Produce")
            .unwrap();
        assert!(p99.value >= 0.0);
        assert!(samples.iter().any(|s| s.name.starts_with("jvm_gc_")));
        assert_eq!(
            urp.key(),
            "UnderReplicatedPartitions{type=\"ReplicaManager\"}"
        );
    }

    #[test]
    fn escapes_and_broken_lines() {
        let s = parse_exposition("m{a=\"x\\\"y,z\",b=\"\"} 1.5e3 123\n").unwrap();
        assert_eq!(s[0].labels["a"], "x\"y,z");
        assert_eq!(s[0].value, 1500.0);
        let e = parse_exposition("ok 1\nbroken{a=\"x} 1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_exposition("m abc").is_err());
        assert!(parse_exposition("m{a=1} 2").is_err());
    }
}
