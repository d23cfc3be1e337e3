//! Numbers and dates as people read them, in every report (text, HTML, checks).

/// `1536` → `"1.5 KiB"` (binary units); bytes below 1 KiB stay exact.
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
    format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("?"))
}

/// [`bytes()`] for a signed figure (`-1.5 KiB`).
pub fn signed_bytes(n: i64) -> String {
    match u64::try_from(n) {
        Ok(n) => bytes(n),
        Err(_) => format!("-{}", bytes(n.unsigned_abs())),
    }
}

/// A percentage of `part` in `total`, one decimal (`-` when `total` is 0).
pub fn percent(part: u64, total: u64) -> String {
    if total == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / total as f64)
}

/// Unix milliseconds as `2026-11-25 10:01:49.123 UTC` (`.mmm` when not zero).
pub fn utc_ms(ms: i64) -> String {
    let iso = rdb_parser::time::format_utc_ms(ms);
    format!("{} UTC", iso.replacen('T', " ", 1).trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_dates() {
        assert_eq!(super::bytes(1000), "1000 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 << 30), "5.0 GiB");
        assert_eq!(super::signed_bytes(-1536), "-1.5 KiB");
        assert_eq!(super::signed_bytes(-5), "-5 B");
        assert_eq!(super::percent(1, 3), "33.3%");
        assert_eq!(
            super::utc_ms(253_402_300_799_999),
            "9999-12-31 23:59:59.999 UTC"
        );
    }
}
