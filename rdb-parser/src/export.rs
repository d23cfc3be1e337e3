//! JSON Lines export: one object per key and per function library.
//!
//! Schema (the fixture manifests' value shapes):
//! `{"db", "key", "type", "expire_at_ms", "value"}` per key, plus
//! `"field_expires_ms": [[field, ms], ...]` for hash encodings that carry field TTLs,
//! and `{"type": "function", "library_code": "..."}` per function library. Byte
//! strings are JSON strings when valid UTF-8, else `{"hex": "..."}`. Values: string
//! → bytes; list → array in order; set → members; zset → `[[member, score]]` with
//! scores as shortest round-trip text (`"0.1"`, `"inf"`); hash → `[[field, value]]`;
//! stream → `{length, entries: [[id, [f, v, ...]]], last_generated_id,
//! max_deleted_entry_id, entries_added, recorded_first_entry_id, groups}` (null for
//! what the file does not hold); module → `{"module": name, "raw": {"hex": ...}}`.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::error::Error;
use crate::record::{KeyRecord, Rdb, Record};
use crate::value::{Element, Stream, StreamId, Value};

/// An export failure: the input is bad, or the output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The snapshot could not be parsed.
    #[error(transparent)]
    Parse(#[from] Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] io::Error),
}

/// Counts of what an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Keys written.
    pub keys: u64,
    /// Function libraries written.
    pub functions: u64,
}

/// Writes every key and function library of `rdb` as JSON Lines to `out`.
pub fn write_jsonl<W: Write>(rdb: &Rdb<'_>, out: &mut W) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    let mut line = Vec::with_capacity(4096);
    for record in rdb.records() {
        let record = record?;
        line.clear();
        if write_record(&record, &mut line)? {
            match record {
                Record::Key(_) => summary.keys += 1,
                _ => summary.functions += 1,
            }
            out.write_all(&line)?;
        }
    }
    Ok(summary)
}

/// Appends the JSON line (with its newline) of `record` to `out` when the record is
/// a key or a function library; returns whether anything was written.
pub fn write_record(record: &Record<'_>, out: &mut Vec<u8>) -> Result<bool, Error> {
    match record {
        Record::Key(key) => write_key(key, out)?,
        Record::Function(f) if !f.pre_ga => {
            out.extend_from_slice(b"{\"type\":\"function\",\"library_code\":");
            write_bytes(out, &f.code.to_bytes()?);
            out.push(b'}');
        }
        _ => return Ok(false),
    }
    out.push(b'\n');
    Ok(true)
}

/// Appends one key's JSON object (without a newline) to `out`.
pub fn write_key(key: &KeyRecord<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    out.extend_from_slice(b"{\"db\":");
    write_int(out, key.db);
    out.extend_from_slice(b",\"key\":");
    write_bytes(out, &key.key);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(key.value_type.logical().name().as_bytes());
    out.extend_from_slice(b"\",\"expire_at_ms\":");
    match key.expire_at_ms {
        Some(ms) => write_int(out, ms),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"value\":");
    match key.value()? {
        Value::String(s) => write_bytes(out, &s.to_bytes()?),
        Value::List(items) | Value::Set(items) => {
            out.push(b'[');
            for (i, item) in items.enumerate() {
                comma(out, i);
                write_element(out, &item?);
            }
            out.push(b']');
        }
        Value::ZSet(entries) => {
            out.push(b'[');
            for (i, entry) in entries.enumerate() {
                let (member, score) = entry?;
                comma(out, i);
                out.push(b'[');
                write_element(out, &member);
                out.extend_from_slice(b",\"");
                write_score(out, score);
                out.extend_from_slice(b"\"]");
            }
            out.push(b']');
        }
        Value::Hash(fields) => {
            let mut expiring: Vec<(Element<'_>, i64)> = Vec::new();
            out.push(b'[');
            for (i, field) in fields.enumerate() {
                let field = field?;
                comma(out, i);
                out.push(b'[');
                write_element(out, &field.field);
                out.push(b',');
                write_element(out, &field.value);
                out.push(b']');
                if let Some(ms) = field.expire_at_ms {
                    expiring.push((field.field, ms));
                }
            }
            out.push(b']');
            if key.value_type.has_field_ttls() {
                out.extend_from_slice(b",\"field_expires_ms\":[");
                for (i, (field, ms)) in expiring.iter().enumerate() {
                    comma(out, i);
                    out.push(b'[');
                    write_element(out, field);
                    out.push(b',');
                    write_int(out, *ms);
                    out.push(b']');
                }
                out.push(b']');
            }
        }
        Value::Stream(stream) => write_stream(out, &stream)?,
        Value::Module(m) => {
            out.extend_from_slice(b"{\"module\":");
            write_bytes(out, m.name().as_bytes());
            out.extend_from_slice(b",\"raw\":{\"hex\":\"");
            write_hex(out, m.raw);
            out.extend_from_slice(b"\"}}");
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_stream(out: &mut Vec<u8>, s: &Stream<'_>) -> Result<(), Error> {
    out.extend_from_slice(b"{\"length\":");
    write_int(out, s.length);
    out.extend_from_slice(b",\"entries\":[");
    for (i, entry) in s.entries().enumerate() {
        let entry = entry?;
        comma(out, i);
        out.push(b'[');
        write_id(out, entry.id);
        out.extend_from_slice(b",[");
        for (j, (f, v)) in entry.fields.iter().enumerate() {
            comma(out, j);
            write_element(out, f);
            out.push(b',');
            write_element(out, v);
        }
        out.extend_from_slice(b"]]");
    }
    out.extend_from_slice(b"],\"last_generated_id\":");
    write_id(out, s.last_id);
    out.extend_from_slice(b",\"max_deleted_entry_id\":");
    write_opt_id(out, s.max_deleted_id);
    out.extend_from_slice(b",\"entries_added\":");
    write_opt_int(out, s.entries_added);
    out.extend_from_slice(b",\"recorded_first_entry_id\":");
    write_opt_id(out, s.first_id);
    out.extend_from_slice(b",\"groups\":[");
    for (i, g) in s.groups.iter().enumerate() {
        comma(out, i);
        out.extend_from_slice(b"{\"name\":");
        write_element(out, &g.name);
        out.extend_from_slice(b",\"last_delivered_id\":");
        write_id(out, g.last_delivered_id);
        out.extend_from_slice(b",\"entries_read\":");
        write_opt_int(out, g.entries_read);
        // The group PEL does not name consumers; the consumers' PELs do.
        let owner: HashMap<StreamId, &Element<'_>> = g
            .consumers
            .iter()
            .flat_map(|c| c.pending.iter().map(move |id| (*id, &c.name)))
            .collect();
        out.extend_from_slice(b",\"pel\":[");
        for (j, p) in g.pending.iter().enumerate() {
            comma(out, j);
            out.extend_from_slice(b"{\"id\":");
            write_id(out, p.id);
            out.extend_from_slice(b",\"consumer\":");
            match owner.get(&p.id) {
                Some(name) => write_element(out, name),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"delivery_time_ms\":");
            write_int(out, p.delivery_time_ms);
            out.extend_from_slice(b",\"delivery_count\":");
            write_int(out, p.delivery_count);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"consumers\":[");
        for (j, c) in g.consumers.iter().enumerate() {
            comma(out, j);
            out.extend_from_slice(b"{\"name\":");
            write_element(out, &c.name);
            out.extend_from_slice(b",\"seen_time_ms\":");
            write_int(out, c.seen_time_ms);
            out.extend_from_slice(b",\"active_time_ms\":");
            write_opt_int(out, c.active_time_ms);
            out.extend_from_slice(b",\"pel\":[");
            for (k, id) in c.pending.iter().enumerate() {
                comma(out, k);
                write_id(out, *id);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// Formats a score as the shortest text that reads back as the same double.
pub fn format_score(score: f64) -> String {
    if score.is_nan() {
        "nan".to_string()
    } else if score.is_infinite() {
        if score > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{score:?}")
    }
}

/// `format_score` without the `String`.
fn write_score(out: &mut Vec<u8>, score: f64) {
    if score.is_nan() {
        out.extend_from_slice(b"nan");
    } else if score.is_infinite() {
        out.extend_from_slice(if score > 0.0 { b"inf" } else { b"-inf" });
    } else {
        let _ = write!(out, "{score:?}");
    }
}

#[inline]
fn comma(out: &mut Vec<u8>, index: usize) {
    if index > 0 {
        out.push(b',');
    }
}

/// Decimal digits without the formatter (`write!` costs more than the digits do on
/// small keys). Every caller's integer is an `i64` or a `u64`.
fn write_int(out: &mut Vec<u8>, v: impl Into<i128>) {
    let v: i128 = v.into();
    if v < 0 {
        out.push(b'-');
    }
    let mut n = u64::try_from(v.unsigned_abs()).unwrap_or(u64::MAX);
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(at..).unwrap_or(&[]));
}

fn write_opt_int<T: Into<i128>>(out: &mut Vec<u8>, v: Option<T>) {
    match v {
        Some(v) => write_int(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    out.push(b'"');
    write_int(out, id.ms);
    out.push(b'-');
    write_int(out, id.seq);
    out.push(b'"');
}

fn write_opt_id(out: &mut Vec<u8>, id: Option<StreamId>) {
    match id {
        Some(id) => write_id(out, id),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_element(out: &mut Vec<u8>, e: &Element<'_>) {
    match e {
        Element::Bytes(b) => write_bytes(out, b),
        Element::Int(i) => {
            out.push(b'"');
            write_int(out, *i);
            out.push(b'"');
        }
    }
}

/// Lower-case hex of `bytes`, two digits per byte: the one hex form of byte strings
/// in every output (`{"hex": ...}`, the `key` column of key rows).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    write_hex(&mut out, bytes);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// What `write_bytes` does with each byte: 0 copies it, 1 starts a non-ASCII
/// sequence (validated once), anything else is the second byte of a two-byte escape
/// (`"`, `\\`, `\n`, `\r`, `\t`), or `u` for `\u00XX`.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f | 0x7f => b'u',
            0x80.. => 1,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// Writes bytes as a JSON string when valid UTF-8, else as `{"hex": "..."}`.
///
/// One pass: ASCII is escaped as it goes; at the first non-ASCII byte the rest is
/// validated once (valid UTF-8 needs no escapes above 0x7f), and on failure what was
/// written is dropped for the hex form.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Sixteen `\u0000`: runs of NULs (padded values) are copied in blocks.
    const NULS: &[u8; 96] = b"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\
                              \\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000";
    let mark = out.len();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut checked = false;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them needs a look.
        if let Some(word) = bytes
            .get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            if !needs_look(u64::from_le_bytes(word), checked) {
                i += 8;
                continue;
            }
        }
        let Some(&b) = bytes.get(i) else { break };
        let class = ESCAPE[b as usize];
        if class == 0 {
            i += 1;
            continue;
        }
        if class == 1 {
            if !checked {
                if std::str::from_utf8(bytes.get(i..).unwrap_or(&[])).is_err() {
                    out.truncate(mark);
                    out.extend_from_slice(b"{\"hex\":\"");
                    write_hex(out, bytes);
                    out.extend_from_slice(b"\"}");
                    return;
                }
                checked = true;
            }
            i += 1;
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or(&[]));
        if b == 0 {
            let run = bytes
                .get(i..)
                .unwrap_or(&[])
                .iter()
                .take_while(|&&c| c == 0)
                .count();
            let mut left = run;
            while left > 0 {
                let n = left.min(16);
                out.extend_from_slice(NULS.get(..n * 6).unwrap_or(&[]));
                left -= n;
            }
            i += run;
        } else {
            if class == b'u' {
                // Other control bytes: `\u00XX` from the table, no formatter.
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            } else {
                out.extend_from_slice(&[b'\\', class]);
            }
            i += 1;
        }
        start = i;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    out.push(b'"');
}

/// Whether any of eight bytes is a control byte, `"`, `\\`, DEL, or (before the
/// UTF-8 check) non-ASCII. May say yes wrongly (the byte loop then decides), never no.
#[inline]
fn needs_look(w: u64, checked: bool) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let special = has_zero(w ^ (LO * u64::from(b'"')))
        | has_zero(w ^ (LO * u64::from(b'\\')))
        | has_zero(w ^ (LO * 0x7f));
    let high = if checked { 0 } else { w & HI };
    below_space | special | high != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_strings() {
        let mut out = Vec::new();
        write_bytes(&mut out, b"a\"b\\c\n\x00\x7f\xd0\xba");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "\"a\\\"b\\\\c\\n\\u0000\\u007f\u{43a}\""
        );
        out.clear();
        write_bytes(&mut out, b"bin\x00key\xff\xfe");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"hex\":\"62696e006b6579fffe\"}"
        );
        for v in [
            0.1,
            1e308,
            5e-324,
            -1.5,
            42.0,
            9007199254740992.0,
            f64::INFINITY,
            -0.0,
        ] {
            assert_eq!(format_score(v).parse::<f64>().ok(), Some(v));
            let mut w = Vec::new();
            write_score(&mut w, v);
            assert_eq!(w, format_score(v).into_bytes());
        }
    }

    /// The escaper before the one-pass rewrite: separate UTF-8 check, `write!` for
    /// `\u00XX`. The fast one must match it byte for byte.
    fn naive(bytes: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            let mut out = b"{\"hex\":\"".to_vec();
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.extend_from_slice(b"\"}");
            return out;
        };
        let mut out = vec![b'"'];
        for c in text.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn write_bytes_matches_the_naive_escaper() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            cases.push(vec![a]);
            for b in [0u8, b'a', b'"', 0x7f, 0x80, 0xba, 0xd0, 0xff] {
                cases.push(vec![a, b]);
                cases.push(vec![b'x', a, b, b'y']);
            }
        }
        // Valid UTF-8 first, then an escape, then invalid bytes (hex after a partial write).
        cases.push("ключ\n🔑\0".as_bytes().to_vec());
        cases.push(["é\t".as_bytes(), b"\xff"].concat());
        cases.push([&b"pad\0\0\0"[..], "\u{43a}".as_bytes(), b"\xd0"].concat());
        // NUL runs around the 16-escape block and the 8-byte word; escapes after a
        // validated non-ASCII prefix; invalid bytes late in a long string.
        for n in 0..40 {
            cases.push([&b"value:12"[..], &vec![0; n], b"x"].concat());
            cases.push([&vec![b'a'; n], &b"\x01\"\\\x7f"[..], &vec![0; n]].concat());
        }
        cases.push(
            [
                "ключ".repeat(5).as_bytes(),
                &b"\"aaaaaaaaaaaaaaaaaaa\x01"[..],
            ]
            .concat(),
        );
        cases.push([&[b'a'; 37][..], "é".as_bytes(), &[b'b'; 20][..], b"\xc3"].concat());
        // xorshift bytes, mostly ASCII so that some cases stay valid UTF-8.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in 0..2000 {
            let mut v = Vec::new();
            for _ in 0..n % 40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(if x.is_multiple_of(16) {
                    (x >> 8) as u8
                } else {
                    (x >> 8) as u8 & 0x7f
                });
            }
            cases.push(v);
        }
        for case in &cases {
            let mut out = b"prefix".to_vec();
            write_bytes(&mut out, case);
            assert!(
                out[6..] == naive(case)[..],
                "{case:?}: {} vs {}",
                String::from_utf8_lossy(&out[6..]),
                String::from_utf8_lossy(&naive(case))
            );
            assert_eq!(&out[..6], b"prefix");
        }
    }
}
