//! The **payload** stage: what to send for one key, as a pure function
//! ([`payload`]) of its value, the target's capabilities and the options. Restore,
//! `export --format resp` and sync all call it, so the encodings and the refusals
//! are decided here once:
//!
//! - *verbatim*: a live source's `DUMP` payload of the target's own version and
//!   family goes as it came (with its Redis 8.6 key metadata);
//! - *slice*: the value bytes with the target's footer version, *re-stamped* when
//!   the source is newer (`RESTORE` dispatches on the type byte, never on the
//!   footer, so a type the target knows is read as is). A snapshot's `KEY_META`
//!   ([`KeyRecord::key_meta`]) is not sent: the payload starts at the type byte,
//!   which every target reads;
//! - *re-encoded* ([`rdb_parser::reencode`]) for types the target cannot read;
//! - *commands* ([`crate::commands`]) with [`WriteMode::Commands`], and in
//!   [`WriteMode::Auto`] when re-encoding cannot carry the value;
//! - *refused* ([`Payload::Reject`]): module values the target cannot read, hash
//!   field TTLs the target cannot hold under [`FieldTtlPolicy::Fail`], malformed
//!   values, payloads over the target's `proto-max-bulk-len`
//!   ([`TargetProfile::max_bulk_len`]) that may not become commands, and function
//!   libraries ([`function_refusal`]) for targets without `FUNCTION RESTORE`.

use std::borrow::Cow;

use rdb_parser::reencode::{readable, reencode, Dropped, FieldTtlPolicy, Policy, ReencodeError};
use rdb_parser::{DumpPayload, FunctionLibrary, KeyRecord, LogicalType};

use crate::commands::{field_ttl_commands, write_key_commands, CommandOptions, ConversionCounts};
use crate::plan::{TargetProfile, WriteMode};
use crate::resp::{self, RestoreFlags, Ttl};

/// A key's value as it arrives: a snapshot record or a live source's `DUMP` reply.
#[derive(Debug, Clone, Copy)]
pub enum KeyValue<'r, 'a> {
    /// A record of a snapshot file written with RDB `rdb_version`.
    Record {
        /// The record (key, type, value bytes, expiry).
        record: &'r KeyRecord<'a>,
        /// The file's RDB version (the header's).
        rdb_version: u32,
    },
    /// A `DUMP` payload read from a live server.
    Dump {
        /// The key name.
        key: &'r [u8],
        /// The whole payload, as `DUMP` returned it.
        bytes: &'a [u8],
        /// `bytes`, parsed.
        parsed: &'r DumpPayload<'a>,
        /// The key's expiry (Unix ms), read with the value.
        expire_at_ms: Option<i64>,
    },
}

impl<'a> KeyValue<'_, 'a> {
    fn key(&self) -> &[u8] {
        match self {
            KeyValue::Record { record, .. } => &record.key,
            KeyValue::Dump { key, .. } => key,
        }
    }

    fn value_type(&self) -> rdb_parser::ValueType {
        match self {
            KeyValue::Record { record, .. } => record.value_type,
            KeyValue::Dump { parsed, .. } => parsed.value_type,
        }
    }

    fn body(&self) -> &'a [u8] {
        match self {
            KeyValue::Record { record, .. } => record.raw,
            KeyValue::Dump { parsed, .. } => parsed.body,
        }
    }

    fn expire_at_ms(&self) -> Option<i64> {
        match self {
            KeyValue::Record { record, .. } => record.expire_at_ms,
            KeyValue::Dump { expire_at_ms, .. } => *expire_at_ms,
        }
    }

    fn source_version(&self) -> u32 {
        match self {
            KeyValue::Record { rdb_version, .. } => *rdb_version,
            KeyValue::Dump { parsed, .. } => u32::from(parsed.rdb_version),
        }
    }

    fn value(&self) -> rdb_parser::Result<rdb_parser::Value<'a>> {
        match self {
            KeyValue::Record { record, .. } => record.value(),
            KeyValue::Dump { parsed, .. } => parsed.value(),
        }
    }
}

/// How the key is written: the choices [`payload`] needs besides the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PayloadOptions {
    /// `RESTORE`, re-encoded `RESTORE` or commands.
    pub mode: WriteMode,
    /// Hash field TTLs on a target that cannot hold them.
    pub field_ttls: FieldTtlPolicy,
    /// The write time (Unix ms): hash fields expiring at or before it are left out.
    pub now_ms: i64,
    /// Commands start with `DEL key` (the key is replaced).
    pub replace: bool,
}

setters!(PayloadOptions {
    mode: WriteMode,
    field_ttls: FieldTtlPolicy,
    now_ms: i64,
    replace: bool,
});

/// How a `RESTORE` payload was made from the source's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// The source's value bytes as they are, with the target's footer version.
    Slice,
    /// The value bytes as they are; the footer re-stamped down to the target's
    /// version (the source is newer).
    Restamped,
    /// Re-encoded to a type the target reads.
    Reencoded(Dropped),
}

/// What to send for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// `RESTORE` with the payload `type_byte` + `body` + `footer` + CRC-64.
    Restore {
        /// The type byte starting the payload.
        type_byte: u8,
        /// The value bytes.
        body: Cow<'a, [u8]>,
        /// The footer version (the target's).
        footer: u16,
        /// How `body` was made.
        encoding: Encoding,
    },
    /// `RESTORE` with the source's `DUMP` payload unchanged.
    Verbatim(&'a [u8]),
    /// Plain commands (RESP, `commands` of them).
    Commands {
        /// The commands.
        buf: Vec<u8>,
        /// How many.
        commands: usize,
        /// What the target could not hold.
        dropped: Dropped,
    },
    /// Nothing left to write: every hash field had expired.
    Expired {
        /// The expired fields.
        dropped: Dropped,
    },
    /// The target cannot take this value as asked (the reason names what to do).
    Reject(String),
}

impl Payload<'_> {
    /// Counts this key's conversion and what it left out into `counts`.
    pub fn count(&self, counts: &mut ConversionCounts) {
        match self {
            Payload::Restore { encoding, .. } => match encoding {
                Encoding::Slice => {}
                Encoding::Restamped => counts.restamped += 1,
                Encoding::Reencoded(d) => {
                    counts.reencoded += 1;
                    counts.add_dropped(d);
                }
            },
            Payload::Commands { dropped, .. } => {
                counts.commands += 1;
                counts.add_dropped(dropped);
            }
            Payload::Expired { dropped } => counts.add_dropped(dropped),
            Payload::Verbatim(_) | Payload::Reject(_) => {}
        }
    }

    /// The payload's length in bytes for a `RESTORE`, `None` for the other kinds.
    pub fn restore_len(&self) -> Option<usize> {
        match self {
            Payload::Restore { body, .. } => Some(resp::payload_len(body.len())),
            Payload::Verbatim(bytes) => Some(bytes.len()),
            _ => None,
        }
    }

    /// Appends `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s | FREQ f]`
    /// for a `RESTORE` kind (the payload built in place); `false`, with nothing
    /// written, for the other kinds.
    pub fn write_restore(
        &self,
        out: &mut Vec<u8>,
        key: &[u8],
        ttl: Ttl,
        flags: RestoreFlags,
    ) -> bool {
        match self {
            Payload::Restore {
                type_byte,
                body,
                footer,
                ..
            } => resp::write_restore(out, key, ttl, *type_byte, body, *footer, flags),
            Payload::Verbatim(bytes) => resp::write_restore_raw(out, key, ttl, bytes, flags),
            _ => return false,
        }
        true
    }
}

/// Decides what to send for `value` to `target`: verbatim, slice, re-stamped,
/// re-encoded, commands, or a refusal (see the [module docs](self)). A `RESTORE`
/// payload longer than the target's `proto-max-bulk-len` goes as commands in
/// [`WriteMode::Auto`] and is refused otherwise. Pure: no I/O, and the same answer
/// for restore, export and sync.
pub fn payload<'a>(
    value: &KeyValue<'_, 'a>,
    target: &TargetProfile,
    options: &PayloadOptions,
) -> Payload<'a> {
    if options.mode == WriteMode::Commands {
        return commands(value, target, options);
    }
    let made = restore_payload(value, target, options);
    match made.restore_len() {
        // Chunked commands fit where one bulk does not.
        Some(len) if len as u64 > target.max_bulk_len => match options.mode {
            WriteMode::Auto => commands(value, target, options),
            _ => Payload::Reject(format!(
                "the RESTORE payload is {len} bytes, over the target's proto-max-bulk-len \
                 ({}): --mode auto writes it as commands, or raise proto-max-bulk-len",
                target.max_bulk_len
            )),
        },
        _ => made,
    }
}

/// The `RESTORE` payload for `value` (or the fallback to commands, or a refusal).
fn restore_payload<'a>(
    value: &KeyValue<'_, 'a>,
    target: &TargetProfile,
    options: &PayloadOptions,
) -> Payload<'a> {
    if let KeyValue::Dump { bytes, parsed, .. } = value {
        if parsed.rdb_version == target.rdb_version && parsed.family() == target.family {
            return Payload::Verbatim(bytes);
        }
    }
    let ty = value.value_type();
    let footer = target.rdb_version;
    if readable(ty, target.family, footer) {
        let encoding = if value.source_version() > u32::from(footer) {
            Encoding::Restamped
        } else {
            Encoding::Slice
        };
        return Payload::Restore {
            type_byte: ty.byte(),
            body: Cow::Borrowed(value.body()),
            footer,
            encoding,
        };
    }
    if ty.logical() == LogicalType::Module {
        return Payload::Reject(format!(
            "module values need RDB {}, the target reads {}",
            ty.min_rdb_version(),
            footer
        ));
    }
    let policy = Policy {
        field_ttls: options.field_ttls,
        now_ms: options.now_ms,
        ..Policy::default()
    };
    match reencode(ty, value.body(), target.family, footer, &policy) {
        Ok(out) => Payload::Restore {
            type_byte: out.value_type.byte(),
            body: Cow::Owned(out.body),
            footer,
            encoding: Encoding::Reencoded(out.dropped),
        },
        Err(e) => {
            let fallback = options.mode == WriteMode::Auto
                && match &e {
                    ReencodeError::Unsupported(_) => true,
                    ReencodeError::FieldTtls { .. } => field_ttl_commands(target),
                    ReencodeError::Parse(_) => false,
                };
            if fallback {
                commands(value, target, options)
            } else {
                Payload::Reject(e.to_string())
            }
        }
    }
}

/// The key as plain commands.
fn commands<'a>(
    value: &KeyValue<'_, 'a>,
    target: &TargetProfile,
    options: &PayloadOptions,
) -> Payload<'a> {
    let decoded = match value.value() {
        Ok(v) => v,
        Err(e) => return Payload::Reject(format!("cannot decode the value: {e}")),
    };
    let mut o = CommandOptions::new(*target, options.now_ms);
    o.replace = options.replace;
    o.expire_at_ms = value.expire_at_ms();
    o.field_ttls = options.field_ttls;
    let mut buf = Vec::new();
    match write_key_commands(&mut buf, value.key(), decoded, &o) {
        Ok(w) if w.empty => Payload::Expired { dropped: w.dropped },
        Ok(w) => Payload::Commands {
            buf,
            commands: w.commands,
            dropped: w.dropped,
        },
        Err(e) => Payload::Reject(e.to_string()),
    }
}

/// Why `FUNCTION RESTORE` cannot carry library `f` to `target`, if it cannot.
pub fn function_refusal(f: &FunctionLibrary<'_>, target: &TargetProfile) -> Option<String> {
    if f.pre_ga {
        Some(
            "function libraries from a 7.0 release candidate (FUNCTION RESTORE refuses them)"
                .into(),
        )
    } else if !target.has_functions() {
        Some(format!(
            "function libraries need Redis 7.0 (RDB 10), the target reads RDB {}",
            target.rdb_version
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rdb_parser::{Family, Rdb, Record, ValueType};

    const T7: TargetProfile = TargetProfile {
        rdb_version: 10,
        family: Family::Redis,
        max_bulk_len: crate::plan::DEFAULT_MAX_BULK_LEN,
    };

    /// A set of one member, "a", as a listpack (SET_LISTPACK, Redis 7.2, RDB 11).
    fn set_listpack_body() -> Vec<u8> {
        let lp = [0x0a, 0, 0, 0, 1, 0, 0x81, b'a', 2, 0xff];
        let mut body = vec![lp.len() as u8];
        body.extend_from_slice(&lp);
        body
    }

    fn dump_value<'r, 'a>(
        key: &'r [u8],
        bytes: &'a [u8],
        parsed: &'r DumpPayload<'a>,
    ) -> KeyValue<'r, 'a> {
        KeyValue::Dump {
            key,
            bytes,
            parsed,
            expire_at_ms: Some(5_000),
        }
    }

    #[test]
    fn sync_dump_from_a_newer_source_into_an_older_target() {
        let auto = PayloadOptions::default().now_ms(1_000).replace(true);
        // A string DUMPed by Redis 7.4 (RDB 12) for Redis 7.0 (RDB 10): re-stamped.
        let bytes = DumpPayload::build(0, b"\x05hello", 12);
        let parsed = DumpPayload::parse(&bytes).unwrap();
        let p = payload(&dump_value(b"k", &bytes, &parsed), &T7, &auto);
        assert_eq!(
            p,
            Payload::Restore {
                type_byte: 0,
                body: Cow::Borrowed(&b"\x05hello"[..]),
                footer: 10,
                encoding: Encoding::Restamped,
            }
        );
        let mut counts = ConversionCounts::default();
        p.count(&mut counts);
        assert_eq!(counts.restamped, 1);
        // What the target receives parses as RDB 10 with the same value.
        let mut out = Vec::new();
        assert!(p.write_restore(
            &mut out,
            b"k",
            T7.ttl(Some(5_000), 1_000),
            RestoreFlags::default()
        ));
        let sent = DumpPayload::build(0, b"\x05hello", 10);
        assert!(out.windows(sent.len()).any(|w| w == sent.as_slice()));

        // A set listpack DUMPed by Redis 7.2 (RDB 11): 7.0 has no such type, so it is
        // re-encoded, and the new payload decodes to the same member.
        let bytes = DumpPayload::build(20, &set_listpack_body(), 11);
        let parsed = DumpPayload::parse(&bytes).unwrap();
        let value = dump_value(b"s", &bytes, &parsed);
        match payload(&value, &T7, &auto) {
            Payload::Restore {
                type_byte,
                body,
                footer: 10,
                encoding: Encoding::Reencoded(_),
            } => {
                assert!(rdb_parser::reencode::readable(
                    ValueType::from_byte(type_byte, Family::Redis).unwrap(),
                    Family::Redis,
                    10
                ));
                let rebuilt = DumpPayload::build(type_byte, &body, 10);
                let back = DumpPayload::parse(&rebuilt).unwrap();
                let members: Vec<Vec<u8>> = match back.value().unwrap() {
                    rdb_parser::Value::Set(s) => {
                        s.map(|m| m.unwrap().to_bytes().to_vec()).collect()
                    }
                    other => panic!("{other:?}"),
                };
                assert_eq!(members, vec![b"a".to_vec()]);
            }
            other => panic!("{other:?}"),
        }
        // The same payload into a Redis 7.2 target goes as it came.
        let t72 = TargetProfile::new(11, Family::Redis);
        assert_eq!(
            payload(&value, &t72, &auto),
            Payload::Verbatim(bytes.as_slice())
        );
        // --mode commands: DEL, SADD, PEXPIREAT with the expiry read with the value.
        let commands = auto.mode(WriteMode::Commands);
        match payload(&value, &T7, &commands) {
            Payload::Commands { buf, commands, .. } => {
                assert_eq!(commands, 3);
                let text = String::from_utf8_lossy(&buf);
                assert!(text.starts_with("*2\r\n$3\r\nDEL\r\n$1\r\ns\r\n"), "{text}");
                assert!(
                    text.contains("SADD") && text.contains("PEXPIREAT"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        // --mode restore on a target re-encoding cannot reach (a stream for 4.0).
        let t4 = TargetProfile::new(8, Family::Redis);
        let stream = DumpPayload::build(15, b"\x00", 10);
        let parsed = DumpPayload::parse(&stream).unwrap();
        let restore_only = auto.mode(WriteMode::Restore);
        assert!(matches!(
            payload(&dump_value(b"x", &stream, &parsed), &t4, &restore_only),
            Payload::Reject(_)
        ));
    }

    #[test]
    fn payloads_over_proto_max_bulk_len_become_commands_or_are_refused() {
        let small = TargetProfile {
            max_bulk_len: 16,
            ..T7
        };
        let bytes = DumpPayload::build(0, b"\x0a0123456789", 10);
        let parsed = DumpPayload::parse(&bytes).unwrap();
        let value = dump_value(b"k", &bytes, &parsed);
        let auto = PayloadOptions::default().now_ms(1_000);
        // Fits the default limit: verbatim.
        assert_eq!(payload(&value, &T7, &auto), Payload::Verbatim(&bytes));
        // 22 bytes over a 16-byte limit: SET + PEXPIREAT in auto mode ...
        match payload(&value, &small, &auto) {
            Payload::Commands { buf, commands, .. } => {
                assert_eq!(commands, 2);
                assert!(String::from_utf8_lossy(&buf).contains("0123456789"));
            }
            other => panic!("{other:?}"),
        }
        // ... refused, naming the setting, with --mode restore.
        match payload(&value, &small, &auto.mode(WriteMode::Restore)) {
            Payload::Reject(why) => assert!(why.contains("proto-max-bulk-len"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snapshot_records_are_sliced_restamped_or_reencoded() {
        fn rdb_with(version: u32, body: &[u8]) -> Vec<u8> {
            let mut f = format!("REDIS{version:04}").into_bytes();
            f.extend_from_slice(body);
            f.push(0xff);
            let crc = rdb_parser::crc::crc64(0, &f);
            f.extend_from_slice(&crc.to_le_bytes());
            f
        }
        let o = PayloadOptions::default();
        for (version, expected) in [(10, Encoding::Slice), (11, Encoding::Restamped)] {
            let data = rdb_with(version, &[0, 1, b'k', 1, b'v']);
            let rdb = Rdb::parse(&data).unwrap();
            let Some(Ok(Record::Key(k))) = rdb.records().next() else {
                panic!("a key")
            };
            let value = KeyValue::Record {
                record: &k,
                rdb_version: version,
            };
            match payload(&value, &T7, &o) {
                Payload::Restore {
                    type_byte: 0,
                    footer: 10,
                    encoding,
                    ..
                } => assert_eq!(encoding, expected),
                other => panic!("{other:?}"),
            }
        }
        let mut body = vec![20, 1, b's'];
        body.extend_from_slice(&set_listpack_body());
        let data = rdb_with(11, &body);
        let rdb = Rdb::parse(&data).unwrap();
        let Some(Ok(Record::Key(k))) = rdb.records().next() else {
            panic!("a key")
        };
        let value = KeyValue::Record {
            record: &k,
            rdb_version: 11,
        };
        assert!(matches!(
            payload(&value, &T7, &o),
            Payload::Restore {
                footer: 10,
                encoding: Encoding::Reencoded(_),
                ..
            }
        ));
    }
}
