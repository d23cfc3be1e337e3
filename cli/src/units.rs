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

/// Unix seconds as `2026-11-25 10:01:49 UTC` (text reports show dates, JSON keeps
/// the number).
pub fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds as ISO 8601 for JSON: `2026-11-25T10:01:49Z`.
pub fn iso(secs: i64) -> String {
    utc(secs).replacen(' ', "T", 1).replace(" UTC", "Z")
}

/// Unix milliseconds as `2026-11-25 10:01:49.123 UTC`.
pub fn utc_ms(ms: i64) -> String {
    let text = utc(ms.div_euclid(1000));
    let base = text.trim_end_matches(" UTC");
    format!("{base}.{:03} UTC", ms.rem_euclid(1000))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
        assert_eq!(super::iso(1_795_609_309), "2026-11-25T12:21:49Z");
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
