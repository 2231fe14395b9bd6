//! Java `.properties` files rendered from typed configs: one place for the format.

use std::collections::BTreeMap;

/// An ordered set of `key=value` pairs; later [`set`](Properties::set)s override earlier ones.
///
/// ```
/// use ducttape_services::Properties;
/// let mut p = Properties::new();
/// p.set("b", 2).set("a", "x").set("b", 3);
/// assert_eq!(p.render(), "a=x\nb=3\n");
/// assert_eq!(p.get("b"), Some("3"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.0.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets every pair of `other`, overriding.
    pub fn extend(&mut self, other: &Properties) -> &mut Self {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), v.clone());
        }
        self
    }

    /// Removes `key` (a setting a later version no longer accepts); returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The keys set, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The file's text, keys sorted.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}\n", escape(v)))
            .collect()
    }
}

impl<K: ToString, V: ToString> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
