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

/// Unix seconds as `2026-11-25 10:01:49 UTC` (text reports show dates, JSON keeps
/// the number).
pub fn utc(secs: i64) -> String {
    utc_ms(secs.saturating_mul(1000))
}

/// Unix milliseconds as `2026-11-25 10:01:49.123 UTC` (`.mmm` when not zero).
pub fn utc_ms(ms: i64) -> String {
    let iso = rdb_parser::time::format_utc_ms(ms);
    format!("{} UTC", iso.replacen('T', " ", 1).trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        // The 7.4.1 fixture's ctime.
        assert_eq!(super::utc(1_795_609_309), "2026-11-25 12:21:49 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(4_102_444_800), "2100-01-01 00:00:00 UTC");
        assert_eq!(super::utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(
            super::utc_ms(253_402_300_799_999),
            "9999-12-31 23:59:59.999 UTC"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(super::bytes(1000), "1000 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 << 30), "5.0 GiB");
        assert_eq!(super::percent(1, 3), "33.3%");
    }
}
