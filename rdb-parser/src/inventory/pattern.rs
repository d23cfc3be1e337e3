//! Key patterns: key names with their variable parts replaced by placeholders, so
//! `user:42:cart`, `user:7:cart` and `user42cart` group as `user:{id}:cart` and
//! `user{id}cart` without knowing the separator.
//!
//! [`pattern_of`] scans the name once, left to right, and replaces:
//!
//! | what | placeholder | example |
//! |---|---|---|
//! | UUID (`8-4-4-4-12` hex digits) | `{uuid}` | `sess:0b7e…-…` → `sess:{uuid}` |
//! | ISO date, optionally with a time (`2024-05-01`, `2024-05-01T10:00:00Z`), or an 8-digit `YYYYMMDD` | `{date}` | `log:20240501` → `log:{date}` |
//! | a run of hex digits of 8 or more with at least one digit and one letter `a-f` | `{hex}` | `blob:9f86d081884c7d65` → `blob:{hex}` |
//! | a letters-and-digits run of 16 or more mixing both (random tokens) | `{token}` | `tok:Zx81kQp0aLm3Vb7Y` → `tok:{token}` |
//! | any other run of decimal digits, also inside a word | `{id}` | `item42:v3` → `item{id}:v{id}` |
//! | a run of 4 or more bytes that are neither printable ASCII nor UTF-8 text | `{bin}` | |
//!
//! Everything else (letters, separators, punctuation, UTF-8 text) is kept as it is,
//! including the braces of a cluster hash tag: `cart:{42}` becomes `cart:{{id}}`, so
//! the hash tag stays visible in the pattern. Patterns longer than
//! [`MAX_PATTERN_LEN`] bytes are cut there and end in `{…}`.
//!
//! The inventory counts keys, memory and expires per pattern in a table bounded by
//! [`InventoryOptions::max_patterns`](super::InventoryOptions::max_patterns); keys of
//! patterns first seen once the table is full are counted under "other".

/// Longest pattern kept, in bytes (before the `{…}` marking a cut).
pub const MAX_PATTERN_LEN: usize = 200;

/// Writes the pattern of `key` into `out` (cleared first). See the module docs for
/// the placeholders.
///
/// ```
/// use rdb_parser::inventory::pattern::pattern_of;
/// let mut p = Vec::new();
/// pattern_of(b"user:42:cart", &mut p);
/// assert_eq!(p, b"user:{id}:cart");
/// pattern_of(b"session-0b7e3e2c-6a41-4e7b-9a33-2f1c8d9e0a11", &mut p);
/// assert_eq!(p, b"session-{uuid}");
/// pattern_of(b"order2024-05-01x17", &mut p);
/// assert_eq!(p, b"order{date}x{id}");
/// ```
pub fn pattern_of(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while let Some(&b) = key.get(i) {
        if out.len() >= MAX_PATTERN_LEN {
            break;
        }
        let rest = key.get(i..).unwrap_or_default();
        if b.is_ascii_alphanumeric() {
            // A UUID starts a token (not in the middle of a longer hex run).
            let after_alnum = i > 0 && key.get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
            if !after_alnum {
                if let Some(n) = uuid_len(rest) {
                    out.extend_from_slice(b"{uuid}");
                    i += n;
                    continue;
                }
            }
            let run = Run::at(rest);
            let whole = rest.get(..run.len).unwrap_or_default();
            match (run.whole_token(whole), run.glued_hex()) {
                (_, Some(word_len)) => {
                    out.extend_from_slice(whole.get(..word_len).unwrap_or_default());
                    out.extend_from_slice(b"{hex}");
                    i += run.len;
                }
                (Some(placeholder), _) if iso_date_len(rest).is_none() => {
                    out.extend_from_slice(placeholder);
                    i += run.len;
                }
                _ => i = word(key, i, i + run.len, out),
            }
        } else if !(0x20..0x7f).contains(&b) {
            let n = opaque_len(rest);
            if n >= 4 {
                out.extend_from_slice(b"{bin}");
            } else {
                out.extend_from_slice(rest.get(..n).unwrap_or_default());
            }
            i += n.max(1);
        } else {
            out.push(b);
            i += 1;
        }
    }
    if i < key.len() || out.len() > MAX_PATTERN_LEN {
        out.truncate(MAX_PATTERN_LEN);
        out.extend_from_slice("{…}".as_bytes());
    }
}

/// The run of ASCII letters and digits at the start of a name's rest, measured in
/// one pass: a pattern is made for every key, and scanning the run once per
/// question (its end, its digits, all hex?, its leading letters) took about 15 %
/// more instructions (callgrind).
struct Run {
    len: usize,
    digits: usize,
    /// Letters before the first digit.
    letters: usize,
    /// Index of the last byte that is not a hex digit.
    last_non_hex: Option<usize>,
}

impl Run {
    fn at(rest: &[u8]) -> Run {
        let mut run = Run {
            len: 0,
            digits: 0,
            letters: 0,
            last_non_hex: None,
        };
        for (i, &c) in rest.iter().enumerate() {
            if c.is_ascii_digit() {
                run.digits += 1;
            } else if c.is_ascii_alphabetic() {
                if run.digits == 0 {
                    run.letters += 1;
                }
                if !c.is_ascii_hexdigit() {
                    run.last_non_hex = Some(i);
                }
            } else {
                break;
            }
            run.len += 1;
        }
        run
    }

    /// The placeholder of the whole run (`whole`, its bytes) when it is one variable
    /// part: digits only (`{id}`, or `{date}` for `YYYYMMDD`), hex of 8+ with digits
    /// and letters (`{hex}`), or a 16+ mix of letters and digits (`{token}`).
    fn whole_token(&self, whole: &[u8]) -> Option<&'static [u8]> {
        if self.digits == self.len {
            return Some(if self.len == 8 && is_date(whole, 0, 4, 6) {
                b"{date}"
            } else {
                b"{id}"
            });
        }
        if self.digits > 0 && self.len >= 8 && self.last_non_hex.is_none() {
            return Some(b"{hex}");
        }
        (self.digits > 0 && self.len >= 16).then_some(b"{token}")
    }

    /// A word glued to a hex id (`sess9f86d081884c7d65`): the length of the word when
    /// the run is letters ending in one that is not a hex digit (`s`), then 8 or more
    /// hex digits with at least one digit. (The digits all follow the leading letters,
    /// so the tail has one when the run has any.)
    fn glued_hex(&self) -> Option<usize> {
        // `word_len <= letters <= len`.
        let word_len = self.last_non_hex.filter(|&i| i < self.letters)? + 1;
        (self.len - word_len >= 8 && self.digits > 0).then_some(word_len)
    }
}

/// A word of letters and digits in `key[start..end]`: letters are kept, each digit
/// run becomes `{id}` (`page12` → `page{id}`), or `{date}` when an ISO date starts
/// there (which may end past `end`). Returns where scanning goes on.
fn word(key: &[u8], start: usize, end: usize, out: &mut Vec<u8>) -> usize {
    let mut i = start;
    while i < end {
        let Some(&c) = key.get(i) else { break };
        if !c.is_ascii_digit() {
            out.push(c);
            i += 1;
            continue;
        }
        let rest = key.get(i..).unwrap_or_default();
        if let Some(n) = iso_date_len(rest) {
            out.extend_from_slice(b"{date}");
            return i + n;
        }
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        out.extend_from_slice(b"{id}");
        i += digits;
    }
    i
}

/// Length of a UUID at the start of `s` (36 bytes, `8-4-4-4-12` hex digits, not
/// followed by another letter or digit).
fn uuid_len(s: &[u8]) -> Option<usize> {
    let u = s.get(..36)?;
    let ok = u.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    (ok && !s.get(36).is_some_and(u8::is_ascii_alphanumeric)).then_some(36)
}

/// Whether `s[y..y+4]`, `s[m..m+2]`, `s[d..d+2]` read as a plausible date
/// (years 1970–2099, months 01–12, days 01–31).
fn is_date(s: &[u8], y: usize, m: usize, d: usize) -> bool {
    let num = |at: usize, n: usize| -> Option<u32> {
        let digits = s.get(at..at + n)?;
        digits.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    matches!(
        (num(y, 4), num(m, 2), num(d, 2)),
        (Some(1970..=2099), Some(1..=12), Some(1..=31))
    )
}

/// Length of an ISO date (`YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]][Z]`) at the
/// start of `s`.
fn iso_date_len(s: &[u8]) -> Option<usize> {
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') || !is_date(s, 0, 5, 8) {
        return None;
    }
    let mut n = 10;
    let two = |at: usize| {
        s.get(at..at + 2)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if matches!(s.get(10), Some(b'T' | b' ')) && two(11) && s.get(13) == Some(&b':') && two(14) {
        n = 16;
        if s.get(16) == Some(&b':') && two(17) {
            n = 19;
            if s.get(19) == Some(&b'.') {
                n = 20
                    + s.get(20..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
            }
        }
        if s.get(n) == Some(&b'Z') {
            n += 1;
        }
    }
    // A date glued to more digits is a number, not a date.
    (!s.get(n).is_some_and(u8::is_ascii_digit)).then_some(n)
}

/// Length of the run at the start of `s` of bytes that are neither printable ASCII
/// nor part of valid UTF-8 text (`s[0]` is not printable ASCII).
fn opaque_len(s: &[u8]) -> usize {
    let mut n = 0;
    while n < s.len() {
        let rest = s.get(n..).unwrap_or_default();
        let Some(&b) = rest.first() else { break };
        if (0x20..0x7f).contains(&b) {
            break;
        }
        let width = utf8_char_len(rest);
        if width > 1 {
            // A UTF-8 character: text, kept unless it is inside an opaque run.
            if n == 0 {
                return width;
            }
            break;
        }
        n += 1;
    }
    n
}

/// Length of the UTF-8 character at the start of `s` when it is one of 2–4 bytes, else 1.
fn utf8_char_len(s: &[u8]) -> usize {
    let width = match s.first() {
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return 1,
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(_)) => width,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &[u8]) -> String {
        let mut out = Vec::new();
        pattern_of(key, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn ids_with_and_without_separators() {
        assert_eq!(p(b"user:42:cart"), "user:{id}:cart");
        assert_eq!(p(b"user:1:cart"), p(b"user:99999:cart"));
        assert_eq!(p(b"user42cart"), "user{id}cart");
        assert_eq!(p(b"user_42_cart"), "user_{id}_cart");
        assert_eq!(p(b"user/42/cart"), "user/{id}/cart");
        assert_eq!(p(b"user.42.cart"), "user.{id}.cart");
        assert_eq!(p(b"12345"), "{id}");
        assert_eq!(p(b"page12"), "page{id}");
        assert_eq!(p(b"plain"), "plain");
        assert_eq!(p(b""), "");
    }

    #[test]
    fn uuids_hex_tokens_dates() {
        assert_eq!(
            p(b"session:0b7e3e2c-6a41-4e7b-9a33-2f1c8d9e0a11"),
            "session:{uuid}"
        );
        assert_eq!(p(b"s:0B7E3E2C-6A41-4E7B-9A33-2F1C8D9E0A11"), "s:{uuid}");
        assert_eq!(p(b"blob:9f86d081884c7d65"), "blob:{hex}");
        assert_eq!(p(b"blob:deadbeef"), "blob:deadbeef"); // a word, no digit
        assert_eq!(p(b"sess9f86d081884c7d65"), "sess{hex}");
        assert_eq!(p(b"sessab86d081884c7d65"), "sess{hex}");
        assert_eq!(p(b"tok:Zx81kQp0aLm3Vb7Y"), "tok:{token}");
        assert_eq!(p(b"log:2024-05-01"), "log:{date}");
        assert_eq!(p(b"log:2024-05-01T10:00:00.123Z:x"), "log:{date}:x");
        assert_eq!(p(b"log:20240501"), "log:{date}");
        assert_eq!(p(b"log:20241301"), "log:{id}"); // month 13: a number
        assert_eq!(p(b"order2024-05-01x17"), "order{date}x{id}");
    }

    #[test]
    fn hash_tags_and_bytes() {
        assert_eq!(p(b"cart:{42}:items"), "cart:{{id}}:items");
        assert_eq!(p(b"{user1000}.following"), "{user{id}}.following");
        assert_eq!(p(b"k\xff\xfe\x00\x01v"), "k{bin}v");
        assert_eq!(p(b"k\xffv"), "k\u{fffd}v"); // short runs kept (shown lossily here)
        assert_eq!(p("café:1".as_bytes()), "café:{id}");
        let long = [b'a'; 500];
        assert!(p(&long).ends_with("{…}"));
        assert!(p(&long).len() <= MAX_PATTERN_LEN + "{…}".len());
    }

    /// Key sets with known shapes: one pattern per shape, whatever the ids.
    #[test]
    fn known_key_sets_group() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000u32 {
            for key in [
                format!("user:{i}:profile"),
                format!("order_{}_{}", i * 7919, i % 13),
                format!("sess{:08x}ab{:06x}", i.wrapping_mul(2654435761), i + 1),
                format!(
                    "tmp/{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    i * 31,
                    i,
                    i % 4096,
                    i % 4096,
                    u64::from(i) * 1_000_003
                ),
                format!("metrics.2024-01-{:02}.host{}", i % 28 + 1, i % 5),
            ] {
                seen.insert(p(key.as_bytes()));
            }
        }
        let want: std::collections::BTreeSet<String> = [
            "user:{id}:profile",
            "order_{id}_{id}",
            "sess{hex}",
            "tmp/{uuid}",
            "metrics.{date}.host{id}",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(seen, want);
    }
}
