//! How numbers are printed in tables and on plot axes.

/// A number as the tables print it: four significant digits or so.
pub fn fmt_num(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 0.01 && x.abs() < 1e7) {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// A relative change as a signed percentage.
pub fn fmt_change(change: f64) -> String {
    if change.is_infinite() {
        "new".into()
    } else {
        format!("{:+.1}%", change * 100.0)
    }
}
