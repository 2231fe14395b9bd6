//! [`ExactlyOnceChecker`]: did a copy hold every input record exactly once, in each
//! partition's order? The check of an exactly-once pipeline (kafkatest's `transactions_test`):
//! input records by partition and value against output records by partition, offset and value.
//!
//! Values are the identity (Kafka's `VerifiableProducer` sends unique values), so a duplicate
//! is a value read twice, wherever it was; the report names each with the offsets it was read
//! at. Order is checked per partition: the output's first copies of one partition's values
//! must come in the order the input holds them (a copier keeps a record's partition).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// A record read from the output: its partition, offset and value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadRecord {
    /// Partition number.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The value, as text.
    pub value: String,
}

/// A value the output holds more than once: where each copy is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Duplicate {
    /// The value.
    pub value: String,
    /// Every copy, as (partition, offset).
    pub copies: Vec<(i32, i64)>,
}

/// The first place a partition's output order departs from its input order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderBreak {
    /// Partition number.
    pub partition: i32,
    /// Position among the partition's first copies.
    pub position: usize,
    /// The value the input has there.
    pub expected: String,
    /// The value the output has there.
    pub found: String,
}

/// What [`ExactlyOnceChecker::report`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExactlyOnceReport {
    /// Input records.
    pub input: usize,
    /// Output records read (copies included).
    pub output: usize,
    /// Input values the output lacks.
    pub missing: Vec<String>,
    /// Values read more than once.
    pub duplicated: Vec<Duplicate>,
    /// Output values the input never had.
    pub unexpected: Vec<String>,
    /// Values copied into another partition than the input's, as (value, input, output).
    pub moved: Vec<(String, i32, i32)>,
    /// Per partition, the first departure from the input's order (of first copies).
    pub reordered: Vec<OrderBreak>,
}

impl ExactlyOnceReport {
    /// Every input record once, in its partition, in order, and nothing else.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.unexpected.is_empty()
            && self.moved.is_empty()
            && self.reordered.is_empty()
    }
}

/// The first five of `items`, and how many more.
fn first<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    let shown: Vec<String> = items.iter().take(5).map(show).collect();
    let more = items.len().saturating_sub(5);
    if more > 0 {
        format!("{} … and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl fmt::Display for ExactlyOnceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} input records, {} read", self.input, self.output)?;
        if self.is_exact() {
            return write!(f, ": each exactly once, in order");
        }
        if !self.missing.is_empty() {
            write!(
                f,
                "; {} missing: {}",
                self.missing.len(),
                first(&self.missing, String::clone)
            )?;
        }
        if !self.duplicated.is_empty() {
            let d = first(&self.duplicated, |d| {
                format!("{} at {:?}", d.value, d.copies)
            });
            write!(f, "; {} duplicated: {d}", self.duplicated.len())?;
        }
        if !self.unexpected.is_empty() {
            write!(
                f,
                "; {} never in the input: {}",
                self.unexpected.len(),
                first(&self.unexpected, String::clone)
            )?;
        }
        if !self.moved.is_empty() {
            write!(
                f,
                "; {} in another partition (value, input, output): {}",
                self.moved.len(),
                first(&self.moved, |m| format!("{m:?}"))
            )?;
        }
        if !self.reordered.is_empty() {
            write!(
                f,
                "; out of order: {}",
                first(&self.reordered, |o| {
                    format!(
                        "partition {} at {}: {} where the input has {}",
                        o.partition, o.position, o.found, o.expected
                    )
                })
            )?;
        }
        Ok(())
    }
}

/// Input records by partition, in the order each partition holds them; then the output.
#[derive(Debug, Default)]
pub struct ExactlyOnceChecker {
    input: BTreeMap<i32, Vec<String>>,
}

impl ExactlyOnceChecker {
    /// A checker of `input`: (partition, value) in each partition's order.
    pub fn new(input: impl IntoIterator<Item = (i32, String)>) -> Self {
        let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (p, v) in input {
            by_partition.entry(p).or_default().push(v);
        }
        Self {
            input: by_partition,
        }
    }

    /// The input's partitions, with how many records each holds.
    pub fn input_partitions(&self) -> BTreeMap<i32, usize> {
        self.input.iter().map(|(p, v)| (*p, v.len())).collect()
    }

    /// Checks `output` (in the order read, each partition in offset order) against the input.
    pub fn report(&self, output: &[ReadRecord]) -> ExactlyOnceReport {
        let home: HashMap<&str, i32> = self
            .input
            .iter()
            .flat_map(|(p, vs)| vs.iter().map(move |v| (v.as_str(), *p)))
            .collect();
        let mut copies: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
        let mut firsts: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
        let mut report = ExactlyOnceReport {
            input: home.len(),
            output: output.len(),
            ..ExactlyOnceReport::default()
        };
        for r in output {
            let seen = copies.entry(r.value.as_str()).or_default();
            seen.push((r.partition, r.offset));
            if seen.len() > 1 {
                continue;
            }
            match home.get(r.value.as_str()) {
                None => report.unexpected.push(r.value.clone()),
                Some(&p) if p != r.partition => {
                    report.moved.push((r.value.clone(), p, r.partition));
                }
                Some(_) => firsts.entry(r.partition).or_default().push(&r.value),
            }
        }
        let mut duplicated: Vec<Duplicate> = copies
            .iter()
            .filter(|(_, c)| c.len() > 1)
            .map(|(v, c)| Duplicate {
                value: (*v).to_string(),
                copies: c.clone(),
            })
            .collect();
        duplicated.sort_by(|a, b| a.copies.cmp(&b.copies));
        report.duplicated = duplicated;
        let read: BTreeSet<&str> = copies.keys().copied().collect();
        for (p, values) in &self.input {
            report.missing.extend(
                values
                    .iter()
                    .filter(|v| !read.contains(v.as_str()))
                    .cloned(),
            );
            // The partition's input order, restricted to what was read there.
            let got = firsts.get(p).map(Vec::as_slice).unwrap_or_default();
            let got_set: BTreeSet<&str> = got.iter().copied().collect();
            let expected = values.iter().filter(|v| got_set.contains(v.as_str()));
            if let Some((position, (e, g))) = expected
                .zip(got.iter())
                .enumerate()
                .find(|(_, (e, g))| e.as_str() != **g)
            {
                report.reordered.push(OrderBreak {
                    partition: *p,
                    position,
                    expected: e.clone(),
                    found: (*g).to_string(),
                });
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(partition: i32, offset: i64, value: &str) -> ReadRecord {
        ReadRecord {
            partition,
            offset,
            value: value.into(),
        }
    }

    fn checker() -> ExactlyOnceChecker {
        ExactlyOnceChecker::new([
            (0, "0".to_string()),
            (1, "1".to_string()),
            (0, "2".to_string()),
            (1, "3".to_string()),
        ])
    }

    #[test]
    fn an_exact_copy_passes() {
        let out = [
            rec(0, 0, "0"),
            rec(1, 0, "1"),
            rec(0, 1, "2"),
            rec(1, 1, "3"),
        ];
        let r = checker().report(&out);
        assert!(r.is_exact(), "{r}");
        assert_eq!((r.input, r.output), (4, 4));
    }

    #[test]
    fn an_aborted_copy_read_uncommitted_is_named_as_duplicates() {
        // The first copy of 0 and 2 was aborted (offsets 0, 1, then the marker at 2).
        let out = [
            rec(0, 0, "0"),
            rec(0, 1, "2"),
            rec(0, 3, "0"),
            rec(0, 4, "2"),
            rec(1, 0, "1"),
            rec(1, 1, "3"),
        ];
        let r = checker().report(&out);
        assert!(!r.is_exact());
        assert_eq!(r.duplicated.len(), 2);
        assert_eq!(r.duplicated[0].value, "0");
        assert_eq!(r.duplicated[0].copies, vec![(0, 0), (0, 3)]);
        assert!(r.missing.is_empty() && r.reordered.is_empty(), "{r}");
        assert!(
            r.to_string()
                .contains("2 duplicated: 0 at [(0, 0), (0, 3)]"),
            "{r}"
        );
    }

    #[test]
    fn missing_unexpected_moved_and_reordered_records_are_named() {
        let out = [
            rec(0, 0, "2"),
            rec(0, 1, "0"),
            rec(0, 2, "3"),
            rec(1, 0, "9"),
        ];
        let r = checker().report(&out);
        assert_eq!(r.missing, vec!["1".to_string()]);
        assert_eq!(r.unexpected, vec!["9".to_string()]);
        assert_eq!(r.moved, vec![("3".to_string(), 1, 0)]);
        assert_eq!(r.reordered.len(), 1);
        assert_eq!(r.reordered[0].expected, "0");
        assert_eq!(r.reordered[0].found, "2");
        let text = r.to_string();
        assert!(
            text.contains("1 missing") && text.contains("out of order"),
            "{text}"
        );
    }
}
