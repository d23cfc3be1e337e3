//! `rdbkit diff`: compare the logical content of two snapshots, or of two sets of
//! shard files, with `rdb_parser::diff`.
//!
//! Exit 0 when identical, 1 when different, 2 on an error (unreadable or corrupt
//! file, bad usage). Keys only on one side that expired by the snapshots' times (B's
//! `ctime`; see `rdb_parser::diff`) are counted apart and do not make the result
//! different unless `--count-expired` is given. `--ignore stream-times` leaves out
//! streams' PEL delivery times (consumers' seen/active times are never compared).
//!
//! `--format json` writes one `rdb_parser::diff::DiffDocument` (its rustdoc gives the
//! schema), keys as JSON strings when valid UTF-8, else `{"hex": "..."}`. `only_in_a` /
//! `only_in_b` count keys really deleted / added; `expired_in_a` / `expired_in_b` keys
//! only on that side that expired by `expired_by` (the later `ctime`, to the end of its
//! second). Times are Unix ms (`*_ms`) and ISO-8601 UTC; `null` when unknown (no
//! `ctime` before RDB 4.0: then `notice` says what could not be judged, else it is
//! `null`). `identical` is the verdict of the exit code. Categories are those of
//! `rdb_parser::diff::category`; for function libraries `key` is the library name
//! and `db` is 0.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Result};
use rdb_parser::diff::{format_utc_ms, DiffDocument, DiffOptions, DiffProgress, DiffReport, Side};
use rdb_parser::{ParseOptions, Rdb};

use crate::input::{self, Input};
use crate::progress::Progress;

pub use crate::output::Format;

/// What `--ignore` can leave out of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ignore {
    /// Streams' PEL delivery times (consumer seen/active times are never compared):
    /// two servers fed the same writes stamp their own.
    StreamTimes,
}

/// Arguments of `rdbkit diff`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Either two files (`rdbkit diff A B`) or two sets of shard files \
                  (`rdbkit diff --a F1 F2 --b G1 G2`); each set is taken as one dataset. \
                  Keys only in A that expired by B's snapshot time (its `ctime`) are \
                  reported as expired, not deleted, and do not count unless \
                  --count-expired. Exit 0 identical, 1 different, 2 error."
)]
pub struct DiffArgs {
    /// The two snapshots to compare (`-` reads standard input, once; object URLs too;
    /// standard input, objects and gzip files are first copied to a temporary file in $TMPDIR).
    #[arg(value_name = "FILE", num_args = 0..=2)]
    files: Vec<String>,
    /// Side A as a set of shard files.
    #[arg(long = "a", value_name = "FILE", num_args = 1..)]
    side_a: Vec<String>,
    /// Side B as a set of shard files.
    #[arg(long = "b", value_name = "FILE", num_args = 1..)]
    side_b: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Example keys shown per category.
    #[arg(long, value_name = "N", default_value_t = 10)]
    examples: usize,
    /// Do not verify the CRC-64 trailers.
    #[arg(long)]
    no_crc: bool,
    /// Count keys that expired between the snapshots as differences (exit 1).
    #[arg(long)]
    count_expired: bool,
    /// Leave out of the comparison (repeatable or comma-separated): `stream-times`
    /// for servers written independently.
    #[arg(long, value_enum, value_name = "WHAT", value_delimiter = ',')]
    ignore: Vec<Ignore>,
}

/// Runs the diff: exit 0 identical, 1 different, 2 error.
pub fn run(args: &DiffArgs, quiet: bool) -> ExitCode {
    match diff(args, quiet) {
        Ok(identical) => ExitCode::from(if identical { 0 } else { 1 }),
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn sides(args: &DiffArgs) -> Result<(Vec<String>, Vec<String>)> {
    match (
        args.files.as_slice(),
        args.side_a.is_empty(),
        args.side_b.is_empty(),
    ) {
        ([a, b], true, true) => Ok((vec![a.clone()], vec![b.clone()])),
        ([], false, false) => Ok((args.side_a.clone(), args.side_b.clone())),
        _ => bail!("diff needs two files (`rdbkit diff A B`) or `--a FILE... --b FILE...`"),
    }
}

fn parse_all<'a>(
    names: &[String],
    data: &'a [Input],
    options: ParseOptions,
) -> Result<Vec<Rdb<'a>>> {
    names
        .iter()
        .zip(data)
        .map(|(name, d)| Rdb::with_options(d, options).map_err(|e| anyhow::anyhow!("{name}: {e}")))
        .collect()
}

fn diff(args: &DiffArgs, quiet: bool) -> Result<bool> {
    let (names_a, names_b) = sides(args)?;
    if names_a.iter().chain(&names_b).filter(|p| *p == "-").count() > 1 {
        bail!("standard input (`-`) can be read only once");
    }
    let options = ParseOptions {
        verify_checksum: !args.no_crc,
    };
    let open =
        |names: &[String]| -> Result<Vec<Input>> { names.iter().map(|p| input::open(p)).collect() };
    let (data_a, data_b) = (open(&names_a)?, open(&names_b)?);
    let rdb_a = parse_all(&names_a, &data_a, options)?;
    let rdb_b = parse_all(&names_b, &data_b, options)?;

    let name_of = |side: Side, file: usize| -> &str {
        let names = match side {
            Side::A => &names_a,
            Side::B => &names_b,
        };
        names.get(file).map_or("?", String::as_str)
    };
    let mut current: Option<(&'static str, Side, usize)> = None;
    let mut bar: Option<Progress> = None;
    let mut on_progress = |p: &DiffProgress| {
        let at = (p.pass, p.side, p.file);
        if current != Some(at) {
            if let Some(b) = bar.as_mut() {
                b.finish();
            }
            let side = if p.side == Side::A { "A" } else { "B" };
            let label = format!("diff: {} {side} {}", p.pass, name_of(p.side, p.file));
            bar = Some(Progress::new(&label, p.total, quiet));
            current = Some(at);
        }
        if let Some(b) = bar.as_mut() {
            b.update(p.position);
        }
    };
    let opts = DiffOptions {
        examples: args.examples,
        stream_times: !args.ignore.contains(&Ignore::StreamTimes),
    };
    let result = rdb_parser::diff::diff_with_progress(&rdb_a, &rdb_b, &opts, &mut on_progress);
    if let Some(b) = bar.as_mut() {
        b.finish();
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => match current {
            Some((_, side, file)) => bail!("{}: {e}", name_of(side, file)),
            None => bail!("{e}"),
        },
    };
    let identical = report.identical(args.count_expired);
    let out = match args.format {
        Format::Json => json(&report, args),
        Format::Text => {
            if let Some(n) = report.notice() {
                eprintln!("rdbkit: notice: {n}");
            }
            text(&report, args, identical, &names_a, &names_b).into_bytes()
        }
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(identical)
}

fn ignore_name(i: Ignore) -> &'static str {
    match i {
        Ignore::StreamTimes => "stream-times",
    }
}

fn json(r: &DiffReport, args: &DiffArgs) -> Vec<u8> {
    let ignore: Vec<&str> = args.ignore.iter().map(|i| ignore_name(*i)).collect();
    let doc = DiffDocument::new(r, args.count_expired, &ignore);
    crate::cmd::restore::json_line(&doc).into_bytes()
}

/// A key for humans: quoted text when UTF-8 (control characters escaped), else
/// escaped bytes.
fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) => format!("{s:?}"),
        Err(_) => {
            let escaped: String = key
                .iter()
                .flat_map(|&b| std::ascii::escape_default(b))
                .map(char::from)
                .collect();
            format!("b\"{escaped}\"")
        }
    }
}

/// A count with thousands separators: `2,323`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn side_line(name: &str, files: &[String], keys: u64, ctime: Option<i64>) -> String {
    let taken = match (ctime, files.len()) {
        (None, _) => String::new(),
        (Some(t), 1) => format!(", taken {}", format_utc_ms(t)),
        (Some(t), _) => format!(", latest taken {}", format_utc_ms(t)),
    };
    format!(
        "{name}: {} ({} keys{taken})\n",
        files.join(" "),
        count(keys)
    )
}

fn text(r: &DiffReport, args: &DiffArgs, identical: bool, a: &[String], b: &[String]) -> String {
    let mut s = String::new();
    s.push_str(&side_line("A", a, r.keys_a, r.ctime_a_ms));
    s.push_str(&side_line("B", b, r.keys_b, r.ctime_b_ms));
    let judged = r.expired_by_ms.is_some();
    let only_a = if judged {
        let by = if r.ctime_b_ms.is_some() {
            "expired by B's time"
        } else {
            "already expired in A"
        };
        format!("deleted, {} {by}", count(r.expired_in_a))
    } else {
        String::new()
    };
    let only_b = if judged {
        format!("added, {} already expired", count(r.expired_in_b))
    } else {
        String::new()
    };
    let mut rows: Vec<(&str, u64, String)> = vec![
        ("only in A", r.only_in_a, only_a),
        ("only in B", r.only_in_b, only_b),
        ("different", r.different, String::new()),
        ("  type", r.different_type, String::new()),
        ("  ttl", r.different_ttl, String::new()),
        ("  value", r.different_value, String::new()),
    ];
    let stream_parts = [
        ("    stream entries", r.different_stream_entries),
        ("    stream groups", r.different_stream_groups),
        ("    PEL delivery times", r.different_stream_delivery_times),
    ];
    for (label, n) in stream_parts {
        if n > 0 {
            rows.push((label, n, String::new()));
        }
    }
    rows.push(("  field ttls", r.different_field_ttls, String::new()));
    rows.push(("same", r.same, String::new()));
    if r.duplicates_in_a + r.duplicates_in_b > 0 {
        rows.push(("duplicates in A", r.duplicates_in_a, String::new()));
        rows.push(("duplicates in B", r.duplicates_in_b, String::new()));
    }
    if r.functions_a + r.functions_b > 0 {
        rows.push(("functions only in A", r.functions_only_in_a, String::new()));
        rows.push(("functions only in B", r.functions_only_in_b, String::new()));
    }
    let width = rows
        .iter()
        .map(|(_, n, _)| count(*n).len())
        .max()
        .unwrap_or(1);
    for (label, n, note) in &rows {
        let line = format!("  {label:<22} {:>width$} {note}", count(*n));
        let _ = writeln!(s, "{}", line.trim_end());
    }
    if let Some(t) = r.expired_by_ms {
        let _ = writeln!(
            s,
            "expired: keys only on one side whose expiry is at or before {}",
            format_utc_ms(t)
        );
    }
    if !args.ignore.is_empty() {
        let names: Vec<&str> = args.ignore.iter().map(|i| ignore_name(*i)).collect();
        let _ = writeln!(s, "ignored: {}", names.join(", "));
    }
    let verdict = if identical { "identical" } else { "different" };
    let expired = r.expired();
    if expired > 0 {
        let how = if args.count_expired {
            "counted (--count-expired)"
        } else {
            "not counted; --count-expired counts them"
        };
        let _ = writeln!(
            s,
            "result: {verdict} ({} expired key{} {how})",
            count(expired),
            if expired == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(s, "result: {verdict}");
    }
    if !r.examples.is_empty() {
        let _ = writeln!(s, "examples:");
        let cw = r
            .examples
            .iter()
            .map(|e| e.category.len())
            .max()
            .unwrap_or(0);
        for e in &r.examples {
            // Function libraries have no database.
            let db = if e.category.starts_with("function") {
                "-".to_string()
            } else {
                e.db.to_string()
            };
            let _ = writeln!(
                s,
                "  {:<cw$}  db {db:<2} {}  {}",
                e.category,
                show_key(&e.key),
                e.detail
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_with_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(2323), "2,323");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
