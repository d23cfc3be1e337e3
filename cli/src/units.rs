//! Human-readable numbers for text reports.

pub use rdb_restore::units::{bytes, percent, utc_ms};

/// A size flag: `512`, `4k`/`4KiB`, `8M`/`8MiB`, `6GB`, `12.5 GiB`, `1t` → bytes.
/// Units are binary (GB = GiB, as the cloud price lists mean it).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    let too_large = || format!("size too large: {s:?}");
    // Whole numbers exactly; fractions (`12.5GiB`) through f64.
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(scale).ok_or_else(too_large);
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a size like 6GB, got {s:?}"))?;
    let bytes = value * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err(too_large());
    }
    Ok(bytes as u64)
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
        use super::parse_size;
        assert_eq!(parse_size("6GB"), Ok(6 << 30));
        assert_eq!(parse_size("12.5 GiB"), Ok(25 << 29));
        assert_eq!(parse_size("500mb"), Ok(500 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert!(parse_size("6 parsecs").is_err());
        assert!(parse_size("GB").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999t").is_err());
        assert!(parse_size("1e30").is_err());
    }
}
