//! What the perf tools' parsers share: numbers as Java prints them (with the default English
//! locale: `1234.56`, `NaN`, `Infinity`), pattern compilation, and the sums and maxima that add
//! up several workers' results. Each tool's own parser lives with its tool
//! (`producer/parse.rs`, `consumer/parse.rs`, `end_to_end/parse.rs`, `rest/parse.rs`).

use std::str::FromStr;

use regex::{Captures, Regex};

/// A number as Java's `%d`, `%f` and `Double.toString` print it, `NaN` and `Infinity` included.
pub(crate) const NUM: &str = r"-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|Infinity)";

/// Compiles one of the parsers' patterns: they are literals, so one that does not compile is a
/// bug that every test catches, not a runtime condition.
#[allow(clippy::expect_used)] // reason: the invariant above
pub(crate) fn static_regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

/// The named capture `name` of `caps`, parsed; `None` if it is absent or does not parse.
pub(crate) fn capture<T: FromStr>(caps: &Captures<'_>, name: &str) -> Option<T> {
    caps.name(name)?.as_str().parse().ok()
}

/// The sum of `field` over `items`.
pub(crate) fn sum_of<T>(items: &[T], field: impl Fn(&T) -> f64) -> f64 {
    items.iter().map(field).sum()
}

/// The largest `field` of `items` (`-inf` for none).
pub(crate) fn max_of<T>(items: &[T], field: impl Fn(&T) -> f64) -> f64 {
    items.iter().map(field).fold(f64::NEG_INFINITY, f64::max)
}
