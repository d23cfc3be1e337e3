//! Times as people read them: Unix milliseconds (as snapshots store expiries and
//! `ctime`) to ISO-8601 UTC dates, for every report of the project.

/// Formats Unix milliseconds as an ISO-8601 UTC date, `2026-12-02T17:59:39Z` (with
/// `.mmm` when the milliseconds are not zero).
pub fn format_utc_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, sec) = (rem / 3600, rem / 60 % 60, rem % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}");
    if milli != 0 {
        out.push_str(&format!(".{milli:03}"));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::format_utc_ms;

    #[test]
    fn dates() {
        assert_eq!(format_utc_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc_ms(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(format_utc_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc_ms(1_796_236_779_123), "2026-12-02T18:39:39.123Z");
        assert_eq!(format_utc_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_utc_ms(4_102_444_800_001), "2100-01-01T00:00:00.001Z");
        assert_eq!(
            format_utc_ms(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
