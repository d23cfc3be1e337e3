//! Redis glob patterns (`KEYS`/`SCAN MATCH` semantics, `stringmatchlen` in Redis
//! [`util.c`](https://github.com/redis/redis/blob/unstable/src/util.c)), over bytes.
//!
//! - `*` any sequence (also empty), `?` any one byte;
//! - `[abc]`, `[a-z]` (reversed ranges such as `[z-a]` work too), `[^a]` negation,
//!   `\` escapes inside brackets; an unterminated `[` class ends at the pattern's end;
//! - `\x` matches `x` literally outside brackets; a trailing `\` matches a `\`.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Byte(u8),
    Class { negate: bool, ranges: Vec<(u8, u8)> },
}

impl Token {
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(x) => *x == b,
            Token::Class { negate, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negate
            }
        }
    }
}

impl Glob {
    /// Compiles `pattern` (every byte string is a valid pattern).
    pub fn new(pattern: &[u8]) -> Glob {
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = pattern.get(i) {
            i += 1;
            match c {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'\\' => match pattern.get(i) {
                    Some(&next) => {
                        tokens.push(Token::Byte(next));
                        i += 1;
                    }
                    None => tokens.push(Token::Byte(b'\\')),
                },
                b'[' => {
                    let negate = pattern.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while let Some(&p) = pattern.get(i) {
                        i += 1;
                        match p {
                            b']' => break,
                            b'\\' if i < pattern.len() => {
                                if let Some(&lit) = pattern.get(i) {
                                    ranges.push((lit, lit));
                                }
                                i += 1;
                            }
                            _ => {
                                if pattern.get(i) == Some(&b'-') {
                                    if let Some(&end) = pattern.get(i + 1) {
                                        let (lo, hi) = if p <= end { (p, end) } else { (end, p) };
                                        ranges.push((lo, hi));
                                        i += 2;
                                        continue;
                                    }
                                }
                                ranges.push((p, p));
                            }
                        }
                    }
                    tokens.push(Token::Class { negate, ranges });
                }
                _ => tokens.push(Token::Byte(c)),
            }
        }
        Glob { tokens }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &[u8]) -> bool {
        // Greedy match remembering the last `*`: every other token consumes exactly
        // one byte, so one backtracking point is enough.
        let (mut t, mut s) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            match (self.tokens.get(t), text.get(s)) {
                (Some(Token::Star), _) => {
                    star = Some((t, s));
                    t += 1;
                }
                (Some(tok), Some(&b)) if tok.matches(b) => {
                    t += 1;
                    s += 1;
                }
                (None, None) => return true,
                _ => match star {
                    Some((st, ss)) if ss < text.len() => {
                        star = Some((st, ss + 1));
                        t = st + 1;
                        s = ss + 1;
                    }
                    _ => return false,
                },
            }
        }
    }

    /// Whether the pattern is `*` (matches everything).
    pub fn is_match_all(&self) -> bool {
        self.tokens == [Token::Star]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::Glob;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes()).matches(s.as_bytes())
    }

    #[test]
    fn redis_semantics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:1"));
        assert!(!m("user:*", "session:1"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("a\\", "a\\"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("a**b", "ab"));
        assert!(m("[abc", "b"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(m("*:?", "x:y"));
        assert!(Glob::new(b"bin\x00*").matches(b"bin\x00key\xff"));
        assert!(Glob::new(b"**").is_match_all());
    }

    /// Against a naive recursive reference on generated inputs.
    #[test]
    fn agrees_with_naive_reference() {
        fn naive(p: &[u8], s: &[u8]) -> bool {
            match p.split_first() {
                None => s.is_empty(),
                Some((b'*', rest)) => (0..=s.len()).any(|i| naive(rest, &s[i..])),
                Some((b'?', rest)) => !s.is_empty() && naive(rest, &s[1..]),
                Some((c, rest)) => s.first() == Some(c) && naive(rest, &s[1..]),
            }
        }
        let alphabet = [b'a', b'b', b'*', b'?'];
        let mut seed = 0x2545_f491_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let pl = (next() % 6) as usize;
            let sl = (next() % 7) as usize;
            let p: Vec<u8> = (0..pl).map(|_| alphabet[(next() % 4) as usize]).collect();
            let s: Vec<u8> = (0..sl).map(|_| alphabet[(next() % 2) as usize]).collect();
            assert_eq!(Glob::new(&p).matches(&s), naive(&p, &s), "{p:?} {s:?}");
        }
    }
}
