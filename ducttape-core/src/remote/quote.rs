//! POSIX shell quoting for every argument we put into a remote command line.

/// Quotes `s` so a POSIX shell reads it back as exactly one word.
///
/// ```
/// use ducttape_core::remote::quote;
/// assert_eq!(quote("plain/path-1.log"), "plain/path-1.log");
/// assert_eq!(quote("it's here"), r#"'it'"'"'s here'"#);
/// assert_eq!(quote(""), "''");
/// ```
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r#"'"'"'"#))
    }
}

/// Quotes each word and joins them with spaces: a command line from an argument vector.
///
/// ```
/// use ducttape_core::remote::quote_all;
/// assert_eq!(quote_all(["echo", "a b", "c"]), "echo 'a b' c");
/// ```
pub fn quote_all<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_real_shell() {
        let nasty = "a 'b' \"c\" $HOME `x` \\ ; | & * ?\n";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }
}
