//! Redaction (`rdbkit ... --redact`): key names out of reports that leave the team.
//!
//! A key name becomes `k` + 16 hex digits of SipHash-1-3 under a random 128-bit key
//! drawn once per run (std's `RandomState`): the same name is the same token
//! everywhere in one run's output, and no two runs share tokens, so a token cannot
//! be looked up in a table of likely names made in advance. Prefixes and patterns
//! keep their structure: separators and punctuation, hash-tag braces and the
//! pattern placeholders (`{id}`, `{uuid}`, ...) stay, and every literal word becomes
//! `w` + 6 hex digits of the same keyed hash.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::{Inventory, PrefixStats};

/// Placeholders of [`pattern`](super::pattern), kept as they are.
const PLACEHOLDERS: [&str; 7] = [
    "{id}", "{uuid}", "{hex}", "{date}", "{token}", "{bin}", "{…}",
];

/// The keyed hash of one run.
pub struct Redactor(std::collections::hash_map::RandomState);

impl std::fmt::Debug for Redactor {
    // The key stays secret: a debug print would let a reader recompute tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(..)")
    }
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new()
    }
}

impl Redactor {
    /// A redactor with a fresh random key.
    pub fn new() -> Redactor {
        Redactor(std::collections::hash_map::RandomState::new())
    }

    fn hash(&self, b: &[u8]) -> u64 {
        let mut h = self.0.build_hasher();
        h.write(b);
        h.finish()
    }

    /// The token of a key name.
    pub fn key(&self, key: &[u8]) -> String {
        format!("k{:016x}", self.hash(key))
    }

    /// A prefix or pattern with every literal word replaced by its token.
    pub fn structure(&self, text: &[u8]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while let Some(rest) = text.get(i..).filter(|r| !r.is_empty()) {
            if let Some(p) = PLACEHOLDERS.iter().find(|p| rest.starts_with(p.as_bytes())) {
                out.push_str(p);
                i += p.len();
                continue;
            }
            let kept = |b: &u8| b.is_ascii_punctuation() || *b == b' ';
            if rest.first().is_some_and(kept) {
                out.push(char::from(rest[0]));
                i += 1;
                continue;
            }
            let n = rest.iter().position(kept).unwrap_or(rest.len());
            // A literal word (letters, digits, any non-ASCII byte): its token.
            let word = rest.get(..n).unwrap_or_default();
            out.push_str(&format!("w{:06x}", self.hash(word) >> 40));
            i += n;
        }
        out
    }
}

/// Redacts an inventory in place: the key names of the top-N lists become tokens,
/// prefixes and patterns their structure (entries that become equal are added up).
pub fn redact_inventory(inv: &mut Inventory, r: &Redactor) {
    for t in inv
        .top_by_memory
        .iter_mut()
        .chain(inv.top_by_elements.iter_mut())
    {
        t.key = r.key(&t.key).into_bytes();
    }
    for table in [&mut inv.prefixes, &mut inv.patterns] {
        let mut out: HashMap<Vec<u8>, PrefixStats> = HashMap::with_capacity(table.len());
        for (p, s) in table.drain() {
            let e = out.entry(r.structure(&p).into_bytes()).or_default();
            e.keys += s.keys;
            e.memory += s.memory;
            e.expires += s.expires;
        }
        *table = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_hide_names() {
        let r = Redactor::new();
        assert_eq!(r.key(b"user:42"), r.key(b"user:42"));
        assert_ne!(r.key(b"user:42"), r.key(b"user:43"));
        assert!(!r.key(b"user:42").contains("user"));
        let s = r.structure(b"user:{id}:cart");
        assert!(s.starts_with('w') && s.contains(":{id}:") && !s.contains("user"));
        assert_eq!(r.structure(b"{user{id}}.x"), r.structure(b"{user{id}}.x"));
        assert!(r.structure(b"{user{id}}.x").starts_with('{'));
        assert_eq!(
            r.structure("café:{uuid}".as_bytes()).len(),
            "w000000:{uuid}".len()
        );
        // Another run, other tokens.
        assert_ne!(Redactor::new().key(b"user:42"), r.key(b"user:42"));
    }
}
