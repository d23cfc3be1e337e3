//! Human-readable numbers for text reports.

/// `1536` → `"1.5 KiB"`; bytes below 1 KiB stay exact.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A percentage of `part` in `total`, one decimal.
pub fn percent(part: u64, total: u64) -> String {
    if total == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / total as f64)
}

/// Time left at the rate so far (`secs` spent to reach `done` of `total`), or `-`.
pub fn eta(secs: f64, done: u64, total: u64) -> String {
    if done == 0 || total <= done {
        return "-".into();
    }
    let left = (secs * (total - done) as f64 / done as f64).round() as u64;
    match left {
        0..=99 => format!("{left} s"),
        100..=5999 => format!("{} min", left.div_ceil(60)),
        _ => format!("{:.1} h", left as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::bytes(1000), "1000 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 << 30), "5.0 GiB");
        assert_eq!(super::percent(1, 3), "33.3%");
    }
}
