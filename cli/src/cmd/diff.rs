//! `rdbkit diff`: compare the logical content of two snapshots, or of two sets of
//! shard files, with `rdb_parser::diff`.
//!
//! Exit 0 when identical, 1 when different, 2 on an error (unreadable or corrupt
//! file, bad usage).
//!
//! `--format json` writes one object:
//! `{"only_in_a", "only_in_b", "different", "same",
//!   "different_by": {"type", "ttl", "value", "field_ttls"},
//!   "duplicates_in_a", "duplicates_in_b", "functions_only_in_a", "functions_only_in_b",
//!   "keys_a", "keys_b", "identical",
//!   "examples": [{"category", "db", "key", "detail"}]}`
//! with keys as JSON strings when valid UTF-8, else `{"hex": "..."}`. Categories are
//! those of `rdb_parser::diff::category`; for function libraries `key` is the library
//! name and `db` is 0.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Result};
use rdb_parser::diff::{DiffOptions, DiffProgress, DiffReport, Side};
use rdb_parser::{ParseOptions, Rdb};

use crate::input::{self, Input};
use crate::progress::Progress;

pub use crate::output::Format;

/// Arguments of `rdbkit diff`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Either two files (`rdbkit diff A B`) or two sets of shard files \
                  (`rdbkit diff --a F1 F2 --b G1 G2`); each set is taken as one dataset. \
                  Exit 0 identical, 1 different, 2 error."
)]
pub struct DiffArgs {
    /// The two snapshots to compare (`-` reads standard input, once).
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
    let out = match args.format {
        Format::Json => json(&report),
        Format::Text => text(&report, &names_a, &names_b).into_bytes(),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(report.is_identical())
}

fn json(r: &DiffReport) -> Vec<u8> {
    use rdb_parser::export::write_bytes;
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"only_in_a\":{},\"only_in_b\":{},\"different\":{},\"same\":{},\
         \"different_by\":{{\"type\":{},\"ttl\":{},\"value\":{},\"field_ttls\":{}}},\
         \"duplicates_in_a\":{},\"duplicates_in_b\":{},\
         \"functions_only_in_a\":{},\"functions_only_in_b\":{},\
         \"keys_a\":{},\"keys_b\":{},\"identical\":{},\"examples\":[",
        r.only_in_a,
        r.only_in_b,
        r.different,
        r.same,
        r.different_type,
        r.different_ttl,
        r.different_value,
        r.different_field_ttls,
        r.duplicates_in_a,
        r.duplicates_in_b,
        r.functions_only_in_a,
        r.functions_only_in_b,
        r.keys_a,
        r.keys_b,
        r.is_identical(),
    );
    let mut out = o.into_bytes();
    for (i, e) in r.examples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"category\":");
        write_bytes(&mut out, e.category.as_bytes());
        out.extend_from_slice(format!(",\"db\":{},\"key\":", e.db).as_bytes());
        write_bytes(&mut out, &e.key);
        out.extend_from_slice(b",\"detail\":");
        write_bytes(&mut out, e.detail.as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
    out
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

fn text(r: &DiffReport, a: &[String], b: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A: {} ({} keys)", a.join(" "), r.keys_a);
    let _ = writeln!(s, "B: {} ({} keys)", b.join(" "), r.keys_b);
    let mut rows: Vec<(&str, u64)> = vec![
        ("only in A", r.only_in_a),
        ("only in B", r.only_in_b),
        ("different", r.different),
        ("  type", r.different_type),
        ("  ttl", r.different_ttl),
        ("  value", r.different_value),
        ("  field ttls", r.different_field_ttls),
        ("same", r.same),
    ];
    if r.duplicates_in_a + r.duplicates_in_b > 0 {
        rows.push(("duplicates in A", r.duplicates_in_a));
        rows.push(("duplicates in B", r.duplicates_in_b));
    }
    if r.functions_a + r.functions_b > 0 {
        rows.push(("functions only in A", r.functions_only_in_a));
        rows.push(("functions only in B", r.functions_only_in_b));
    }
    let width = rows
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(1);
    for (label, n) in &rows {
        let _ = writeln!(s, "  {label:<20} {n:>width$}");
    }
    let verdict = if r.is_identical() {
        "identical"
    } else {
        "different"
    };
    let _ = writeln!(s, "result: {verdict}");
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
