//! `rdbkit report`: one self-contained HTML file about a backup: what is in it, how
//! big it will be on the target, and what to do before migrating.
//!
//! Everything is inline (CSS, a little JS, SVG charts) and the page carries a
//! Content-Security-Policy of `default-src 'none'`: it fetches nothing, so it works
//! offline and in air-gapped review, and prints. Every chart is drawn from the same
//! rows that follow it as a table. The charts and tables are written here; the JS
//! only sorts and filters the biggest-keys table and draws the pattern flame graph
//! (whose data is also a table).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_parser::inventory::{
    inventory, Inventory, InventoryOptions, PrefixStats, ELEMENT_BUCKETS, FREQ_BUCKETS,
    IDLE_BUCKETS, MEMORY_BUCKETS, TTL_BUCKETS,
};
use rdb_parser::{Family, ValueType};

use super::baseline::{which_file, ModelArgs, Opened};
use crate::output;
use crate::progress::Progress;
use crate::redact::Redactor;
use crate::units;

/// Arguments of `rdbkit report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Snapshot files; several files (one per shard) are one dataset. `-` reads stdin;
    /// `s3://...`, `az://...` read objects (globs name shard sets); standard input, objects and gzip files are first copied to a temporary file in $TMPDIR.
    #[arg(required = true)]
    files: Vec<String>,
    /// Output HTML file (written as OUT.partial, renamed when complete); an `s3://` or
    /// `az://` URL uploads it.
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Target profile whose memory is estimated (headline, capacity).
    #[arg(long, value_enum, default_value = "azure-managed-7.4")]
    target: TargetProfile,
    /// Memory size of the target SKU (`6GB`, `12.5GiB`, `500MB`; GB = GiB here, as
    /// the cloud price lists mean it), for the capacity check.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    target_size: Option<u64>,
    /// Keys in the biggest-keys table.
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Most distinct key patterns tracked (the rest is "other").
    #[arg(long, default_value_t = 2000)]
    max_patterns: usize,
    /// Replace key names by a keyed hash (random key per run); prefixes and
    /// patterns keep only their structure.
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// Migration targets the report checks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetProfile {
    /// Azure Cache for Redis (Basic/Standard/Premium): Redis 6.0, RDB 9.
    #[value(name = "azure-cache-6.0")]
    AzureCache6,
    /// Azure Managed Redis: Redis 7.4, RDB 12, one database.
    #[value(name = "azure-managed-7.4")]
    AzureManaged74,
}

impl TargetProfile {
    const ALL: [TargetProfile; 2] = [TargetProfile::AzureCache6, TargetProfile::AzureManaged74];

    fn name(self) -> &'static str {
        match self {
            TargetProfile::AzureCache6 => "Azure Cache for Redis 6.0",
            TargetProfile::AzureManaged74 => "Azure Managed Redis 7.4",
        }
    }

    fn version(self) -> (u32, u32) {
        match self {
            TargetProfile::AzureCache6 => (6, 0),
            TargetProfile::AzureManaged74 => (7, 4),
        }
    }

    fn rdb_version(self) -> u32 {
        match self {
            TargetProfile::AzureCache6 => 9,
            TargetProfile::AzureManaged74 => 12,
        }
    }

    /// Share of the SKU size usable by data: AMR reserves about 20% (see
    /// `platforms.md`, S15); Azure Cache's `maxmemory-reserved` is configured per
    /// cache and not subtracted here.
    fn usable_percent(self) -> u64 {
        match self {
            TargetProfile::AzureCache6 => 100,
            TargetProfile::AzureManaged74 => 80,
        }
    }
}

/// `6GB`, `6GiB`, `512MB`, `1.5g`, `1048576` → bytes (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a size like 6GB, got {s:?}"))?;
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    Ok((value * scale as f64) as u64)
}

/// Runs the report; exit 0 when written, 2 otherwise.
pub fn run(args: &ReportArgs, quiet: bool) -> ExitCode {
    match report(args, quiet) {
        Ok(()) => {
            if !quiet {
                eprintln!("rdbkit: report written to {}", output::shown(&args.output));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report(args: &ReportArgs, quiet: bool) -> Result<()> {
    let opened = Opened::open(&args.files)?;
    let files = opened.files();
    let base = args.model.options();
    let options = InventoryOptions {
        top: args.top,
        max_patterns: args.max_patterns,
        slots: true,
        target_version: base.target_version.or(Some(args.target.version())),
        ..base
    };
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let progress = std::sync::Mutex::new(Progress::new("report", total, quiet));
    let inv = inventory(&files, &options, &|pos| {
        if let Ok(mut p) = progress.lock() {
            p.update(pos);
        }
    })
    .with_context(|| which_file(&args.files))?;
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let mut inv = inv;
    if args.redact {
        crate::redact::inventory(&mut inv, &Redactor::new());
    }
    let html = Page::new(&inv, &options, args).render();
    if output::is_object(&args.output) {
        return output::upload(&args.output, html.as_bytes()).map(|_| ());
    }
    let partial = format!("{}.partial", args.output);
    std::fs::write(&partial, html).with_context(|| format!("writing {partial}"))?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("renaming {partial} to {}", args.output))
}

/// HTML text escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table cell: text, or a number (right-aligned, sortable by `data-v`).
enum Cell {
    Text(String),
    Num(String, u64),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn count(n: u64) -> Cell {
    Cell::Num(n.to_string(), n)
}

fn size(n: u64) -> Cell {
    Cell::Num(units::bytes(n), n)
}

/// One chart row: label and value.
struct Bar {
    label: String,
    value: u64,
}

struct Page<'a> {
    inv: &'a Inventory,
    options: &'a InventoryOptions,
    args: &'a ReportArgs,
    html: String,
}

impl<'a> Page<'a> {
    fn new(inv: &'a Inventory, options: &'a InventoryOptions, args: &'a ReportArgs) -> Page<'a> {
        Page {
            inv,
            options,
            args,
            html: String::new(),
        }
    }

    fn render(mut self) -> String {
        let title = format!(
            "rdbkit report: {}",
            self.inv
                .files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = write!(
            self.html,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{CSS}</style></head>\n<body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&title)
        );
        self.headline();
        self.compatibility();
        self.types();
        self.patterns();
        self.prefixes();
        self.ttl();
        self.distributions();
        self.biggest();
        self.balance();
        let _ = write!(
            self.html,
            "<footer>Generated by rdbkit {} from the files alone (no server contacted). \
             Memory figures are the model of <code>rdbkit baseline</code> for {} \
             (allocator quantum {}).</footer>\n<script>{JS}</script>\n</body></html>\n",
            env!("CARGO_PKG_VERSION"),
            esc(&self.model_name()),
            match self.options.size_classes {
                rdb_parser::inventory::memory::SizeClasses::Quantum16 => 16,
                _ => 8,
            }
        );
        self.html
    }

    fn model_name(&self) -> String {
        match self.options.target_version {
            Some((major, minor)) if Some((major, minor)) == Some(self.args.target.version()) => {
                format!("{} (Redis {major}.{minor})", self.args.target.name())
            }
            Some((major, minor)) => format!("Redis {major}.{minor}"),
            None => "the versions that wrote the files".to_string(),
        }
    }

    fn section(&mut self, id: &str, title: &str) {
        let _ = writeln!(self.html, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
    }

    fn end_section(&mut self) {
        self.html.push_str("</section>\n");
    }

    fn table(&mut self, id: &str, header: &[&str], rows: Vec<Vec<Cell>>) {
        let _ = write!(self.html, "<table id=\"{id}\"><thead><tr>");
        for h in header {
            let _ = write!(self.html, "<th>{}</th>", esc(h));
        }
        self.html.push_str("</tr></thead><tbody>\n");
        for row in rows {
            self.html.push_str("<tr>");
            for cell in row {
                match cell {
                    Cell::Text(s) => {
                        let _ = write!(self.html, "<td>{}</td>", esc(&s));
                    }
                    Cell::Num(s, v) => {
                        let _ =
                            write!(self.html, "<td class=\"n\" data-v=\"{v}\">{}</td>", esc(&s));
                    }
                }
            }
            self.html.push_str("</tr>\n");
        }
        self.html.push_str("</tbody></table>\n");
    }

    /// A horizontal bar chart (inline SVG) of `bars`, values shown with `fmt`.
    fn chart(&mut self, id: &str, caption: &str, bars: &[Bar], fmt: fn(u64) -> String) {
        let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
        let row = 22;
        let height = bars.len() * row + 8;
        let _ = write!(
            self.html,
            "<figure><svg class=\"chart\" id=\"{id}\" role=\"img\" aria-label=\"{}\" \
             viewBox=\"0 0 760 {height}\" width=\"760\" height=\"{height}\">",
            esc(caption)
        );
        for (i, b) in bars.iter().enumerate() {
            let y = i * row + 4;
            let w = (b.value as f64 / max as f64 * 400.0).round().max(1.0);
            let label: String = b.label.chars().take(38).collect();
            let _ = write!(
                self.html,
                "<g><title>{}: {}</title><text x=\"210\" y=\"{}\" text-anchor=\"end\">{}</text>\
                 <rect class=\"bar\" x=\"218\" y=\"{y}\" width=\"{w}\" height=\"{}\" rx=\"2\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text></g>",
                esc(&b.label),
                esc(&fmt(b.value)),
                y + 15,
                esc(&label),
                row - 6,
                218.0 + w + 6.0,
                y + 15,
                esc(&fmt(b.value))
            );
        }
        let _ = writeln!(
            self.html,
            "</svg><figcaption>{}</figcaption></figure>",
            esc(caption)
        );
    }

    fn headline(&mut self) {
        let inv = self.inv;
        self.section("headline", "Headline");
        let keys = inv.keys();
        let estimate = inv.memory_estimate;
        let mut facts = vec![
            ("Keys", keys.to_string()),
            ("Keys with TTL", inv.expires().to_string()),
            ("Expired at snapshot time", inv.ttl_expired.to_string()),
            (
                "Estimated used_memory after load",
                format!("{} on {}", units::bytes(estimate), self.model_name()),
            ),
            ("Key memory", units::bytes(inv.memory_keys)),
            (
                "File size",
                units::bytes(inv.files.iter().map(|f| f.bytes).sum()),
            ),
        ];
        if let Some(m) = inv.recorded_used_memory() {
            facts.push(("used-mem recorded by the source", units::bytes(m)));
        }
        if let Some(size) = self.args.target_size {
            facts.push(("Target size (--target-size)", units::bytes(size)));
        }
        self.html.push_str("<dl class=\"facts\">");
        for (k, v) in facts {
            let _ = write!(self.html, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
        }
        self.html.push_str("</dl>\n<h3>Files (shards)</h3>\n");
        let rows = inv
            .files
            .iter()
            .map(|f| {
                let server = match (&f.aux.valkey_ver, &f.aux.redis_ver) {
                    (Some(v), _) => format!("Valkey {v}"),
                    (None, Some(v)) => format!("Redis {v}"),
                    _ => "not recorded".into(),
                };
                vec![
                    text(f.name.clone()),
                    text(f.header.map(|h| h.magic()).unwrap_or_default()),
                    text(server),
                    text(
                        f.snapshot_time_ms
                            .map(units::utc_ms)
                            .unwrap_or_else(|| "unknown".into()),
                    ),
                    size(f.bytes),
                    count(f.keys),
                    size(f.memory_estimate),
                    text(match f.checksum_verified {
                        Some(true) => "verified",
                        Some(false) => "absent",
                        None => "not checked",
                    }),
                ]
            })
            .collect();
        self.table(
            "files",
            &[
                "file",
                "format",
                "written by",
                "snapshot time",
                "size",
                "keys",
                "est. used_memory",
                "CRC-64",
            ],
            rows,
        );
        self.html.push_str("<h3>Keys per database</h3>\n");
        let rows = inv
            .keyspace
            .iter()
            .map(|(db, d)| {
                vec![
                    text(format!("db{db}")),
                    count(d.keys),
                    count(d.expires),
                    count(d.expired_at_snapshot),
                    size(d.memory),
                ]
            })
            .collect();
        self.table(
            "keyspace",
            &[
                "db",
                "keys",
                "with TTL",
                "expired at snapshot",
                "key memory",
            ],
            rows,
        );
        self.end_section();
    }

    /// Keys per RDB type, with the type's oldest readable RDB version.
    fn rdb_types(&self) -> Vec<(ValueType, u64)> {
        let family = self
            .inv
            .files
            .first()
            .and_then(|f| f.header)
            .map_or(Family::Redis, |h| h.family);
        let mut out = Vec::new();
        for byte in 0..=u8::MAX {
            if let Some(t) = ValueType::from_byte(byte, family) {
                if let Some(&n) = self.inv.rdb_types.get(t.name()) {
                    out.push((t, n));
                }
            }
        }
        out
    }

    fn compatibility(&mut self) {
        self.section("compatibility", "Target compatibility");
        let types = self.rdb_types();
        let functions: u64 = self.inv.files.iter().map(|f| f.functions).sum();
        let source_rdb = self
            .inv
            .files
            .iter()
            .filter_map(|f| f.header.map(|h| h.version))
            .max()
            .unwrap_or(0);
        let other_dbs: u64 = self
            .inv
            .keyspace
            .iter()
            .filter(|(db, _)| **db != 0)
            .map(|(_, d)| d.keys)
            .sum();
        let biggest = self.inv.top_by_memory.first().map_or(0, |t| t.memory);
        for profile in TargetProfile::ALL {
            let mut rows: Vec<Vec<Cell>> = Vec::new();
            let mut check = |what: &str, status: &str, detail: String| {
                rows.push(vec![text(what), text(status), text(detail)]);
            };
            let newer: Vec<String> = types
                .iter()
                .filter(|(t, _)| t.min_rdb_version() > profile.rdb_version())
                .map(|(t, n)| format!("{n} × {}", t.name()))
                .collect();
            let newer_keys: u64 = types
                .iter()
                .filter(|(t, _)| t.min_rdb_version() > profile.rdb_version())
                .map(|(_, n)| n)
                .sum();
            if newer.is_empty() {
                check(
                    "Payloads",
                    "ok",
                    if source_rdb > profile.rdb_version() {
                        format!(
                            "RDB {source_rdb} payloads sent as is, footer re-stamped to RDB {}",
                            profile.rdb_version()
                        )
                    } else {
                        "sent as is (RESTORE)".to_string()
                    },
                );
            } else {
                check(
                    "Re-encoded or sent as commands",
                    "warn",
                    format!(
                        "{newer_keys} keys of types RDB {} does not read: {}",
                        profile.rdb_version(),
                        newer.join(", ")
                    ),
                );
            }
            let field_ttl: u64 = types
                .iter()
                .filter(|(t, _)| t.has_field_ttls())
                .map(|(_, n)| n)
                .sum();
            if field_ttl > 0 && profile.rdb_version() < 12 {
                check(
                    "Hash field TTLs",
                    "fail",
                    format!("{field_ttl} hashes carry field TTLs, which this target cannot keep: restore with --hash-field-ttl drop (they are lost) or choose a 7.4+ target"),
                );
            } else if field_ttl > 0 {
                check("Hash field TTLs", "ok", format!("{field_ttl} hashes, kept"));
            }
            let modules: u64 = types
                .iter()
                .filter(|(t, _)| t.logical() == rdb_parser::LogicalType::Module)
                .map(|(_, n)| n)
                .sum();
            if modules > 0 {
                check(
                    "Module values",
                    "warn",
                    format!("{modules} keys need their module loaded on the target"),
                );
            }
            if functions > 0 {
                if profile.version() < (7, 0) {
                    check(
                        "Functions",
                        "fail",
                        format!(
                            "{functions} function libraries: FUNCTION RESTORE needs Redis 7.0+"
                        ),
                    );
                } else {
                    check(
                        "Functions",
                        "ok",
                        format!("{functions} function libraries, via FUNCTION RESTORE"),
                    );
                }
            }
            if other_dbs > 0 {
                match profile {
                    TargetProfile::AzureManaged74 => check(
                        "Databases",
                        "fail",
                        format!("{other_dbs} keys outside db 0: Azure Managed Redis has one database (SELECT blocked); map them with --db-map or a key prefix"),
                    ),
                    TargetProfile::AzureCache6 => check(
                        "Databases",
                        "warn",
                        format!("{other_dbs} keys outside db 0: fine on a non-clustered cache, a clustered cache has db 0 only"),
                    ),
                }
            }
            if biggest > 512 << 20 {
                check(
                    "Size limits",
                    "warn",
                    format!("the biggest key is about {}: a single RESTORE payload over 512 MB (proto-max-bulk-len) is refused; such keys are sent as commands", units::bytes(biggest)),
                );
            }
            if profile == self.args.target {
                let estimate = self.inv.memory_estimate;
                match self.args.target_size {
                    Some(sku) => {
                        let usable = sku / 100 * profile.usable_percent();
                        let (status, verdict) = if estimate > usable {
                            ("fail", "does not fit")
                        } else if estimate > usable / 10 * 8 {
                            ("warn", "fits with less than 20% headroom")
                        } else {
                            ("ok", "fits")
                        };
                        check(
                            "Capacity",
                            status,
                            format!(
                                "estimated used_memory {} vs {} usable of {} ({}%): {verdict} ({})",
                                units::bytes(estimate),
                                units::bytes(usable),
                                units::bytes(sku),
                                profile.usable_percent(),
                                units::percent(estimate, usable)
                            ),
                        );
                    }
                    None => check(
                        "Capacity",
                        "info",
                        format!(
                            "estimated used_memory {}; give --target-size to check a SKU",
                            units::bytes(estimate)
                        ),
                    ),
                }
            } else {
                check(
                    "Capacity",
                    "info",
                    format!(
                        "run with --target {} for this target's memory estimate",
                        match profile {
                            TargetProfile::AzureCache6 => "azure-cache-6.0",
                            TargetProfile::AzureManaged74 => "azure-managed-7.4",
                        }
                    ),
                );
            }
            let _ = writeln!(self.html, "<h3>{}</h3>", esc(profile.name()));
            let id = match profile {
                TargetProfile::AzureCache6 => "compat-azure-cache-6",
                TargetProfile::AzureManaged74 => "compat-azure-managed-7-4",
            };
            self.table(id, &["check", "status", "detail"], rows);
        }
        self.end_section();
    }

    fn types(&mut self) {
        self.section("types", "Memory by type and encoding");
        let mut types: Vec<_> = self.inv.types.iter().collect();
        types.sort_by_key(|t| std::cmp::Reverse(t.1.memory));
        let bars: Vec<Bar> = types
            .iter()
            .map(|((t, e), s)| Bar {
                label: format!("{t}/{e}"),
                value: s.memory,
            })
            .collect();
        self.chart(
            "chart-types",
            "Estimated memory per type/encoding",
            &bars,
            units::bytes,
        );
        let total = self.inv.memory_keys;
        let rows = types
            .iter()
            .map(|((t, e), s)| {
                vec![
                    text(format!("{t}/{e}")),
                    count(s.keys),
                    count(s.elements),
                    size(s.serialized_bytes),
                    size(s.memory),
                    text(units::percent(s.memory, total)),
                ]
            })
            .collect();
        self.table(
            "table-types",
            &[
                "type/encoding",
                "keys",
                "elements",
                "in file",
                "memory",
                "share",
            ],
            rows,
        );
        self.end_section();
    }

    fn ranked(
        &self,
        table: &std::collections::HashMap<Vec<u8>, PrefixStats>,
    ) -> Vec<(String, PrefixStats)> {
        let mut v: Vec<_> = table.iter().collect();
        v.sort_by(|a, b| b.1.memory.cmp(&a.1.memory).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .map(|(p, s)| (String::from_utf8_lossy(p).into_owned(), *s))
            .collect()
    }

    fn patterns(&mut self) {
        self.section("patterns", "Key patterns");
        let _ = writeln!(
            self.html,
            "<p>Key names with ids, UUIDs, hex, dates and tokens replaced by placeholders \
             ({} distinct{}). The flame graph splits patterns at <code>: / | . #</code>; \
             click a block to zoom in, the top bar to zoom out.</p>",
            self.inv.patterns.len(),
            if self.inv.patterns_other.keys > 0 {
                format!(
                    ", {} keys of further patterns counted as other",
                    self.inv.patterns_other.keys
                )
            } else {
                String::new()
            }
        );
        let ranked = self.ranked(&self.inv.patterns);
        // The flame graph's data: every pattern with its memory and keys.
        let data: Vec<serde_json::Value> = ranked
            .iter()
            .map(|(p, s)| serde_json::json!([p, s.memory, s.keys]))
            .collect();
        let json = serde_json::Value::Array(data)
            .to_string()
            .replace("</", "<\\/");
        let _ = write!(
            self.html,
            "<div id=\"flame\" class=\"flame\" role=\"img\" aria-label=\"Flame graph of key patterns by memory\"></div>\n\
             <script type=\"application/json\" id=\"pattern-data\">{json}</script>\n"
        );
        let total = self.inv.memory_keys;
        let mut rows: Vec<Vec<Cell>> = ranked
            .iter()
            .take(200)
            .map(|(p, s)| {
                vec![
                    text(p.clone()),
                    count(s.keys),
                    size(s.memory),
                    text(units::percent(s.memory, total)),
                    count(s.expires),
                ]
            })
            .collect();
        let o = self.inv.patterns_other;
        if o.keys > 0 {
            rows.push(vec![
                text("(other)"),
                count(o.keys),
                size(o.memory),
                text(units::percent(o.memory, total)),
                count(o.expires),
            ]);
        }
        self.table(
            "table-patterns",
            &["pattern", "keys", "memory", "share", "with TTL"],
            rows,
        );
        self.end_section();
    }

    fn prefixes(&mut self) {
        let title = format!(
            "Key prefixes (separator {:?}, depth {})",
            String::from_utf8_lossy(&self.options.separator),
            self.options.depth
        );
        self.section("prefixes", &title);
        let ranked = self.ranked(&self.inv.prefixes);
        let mut rows: Vec<(String, PrefixStats)> = ranked.into_iter().take(30).collect();
        for (label, s) in [
            ("(no prefix)", self.inv.prefixes_none),
            ("(other)", self.inv.prefixes_other),
        ] {
            if s.keys > 0 {
                rows.push((label.to_string(), s));
            }
        }
        let bars: Vec<Bar> = rows
            .iter()
            .map(|(p, s)| Bar {
                label: p.clone(),
                value: s.memory,
            })
            .collect();
        self.chart(
            "chart-prefixes",
            "Estimated memory per prefix",
            &bars,
            units::bytes,
        );
        let total = self.inv.memory_keys;
        let rows = rows
            .into_iter()
            .map(|(p, s)| {
                vec![
                    text(p),
                    count(s.keys),
                    size(s.memory),
                    text(units::percent(s.memory, total)),
                    count(s.expires),
                ]
            })
            .collect();
        self.table(
            "table-prefixes",
            &["prefix", "keys", "memory", "share", "with TTL"],
            rows,
        );
        self.end_section();
    }

    fn ttl(&mut self) {
        self.section("ttl", "TTL distribution (remaining at snapshot time)");
        let mut bars = vec![
            Bar {
                label: "no TTL".into(),
                value: self.inv.ttl_none,
            },
            Bar {
                label: "already expired".into(),
                value: self.inv.ttl_expired,
            },
        ];
        for ((label, _), n) in TTL_BUCKETS.iter().zip(self.inv.ttl_buckets) {
            bars.push(Bar {
                label: label.to_string(),
                value: n,
            });
        }
        self.chart("chart-ttl", "Keys per remaining TTL", &bars, |n| {
            n.to_string()
        });
        let rows = bars
            .iter()
            .map(|b| vec![text(b.label.clone()), count(b.value)])
            .collect();
        self.table("table-ttl", &["remaining TTL", "keys"], rows);
        let idle = self.inv.idle_buckets;
        if idle.iter().any(|&n| n > 0) {
            self.html.push_str("<h3>LRU idle time</h3>\n");
            let rows = IDLE_BUCKETS
                .iter()
                .zip(idle)
                .map(|((l, _), n)| vec![text(*l), count(n)])
                .collect();
            self.table("table-idle", &["idle", "keys"], rows);
        }
        let freq = self.inv.freq_buckets;
        if freq.iter().any(|&n| n > 0) {
            self.html.push_str("<h3>LFU counter</h3>\n");
            let rows = FREQ_BUCKETS
                .iter()
                .zip(freq)
                .map(|((l, _), n)| vec![text(*l), count(n)])
                .collect();
            self.table("table-freq", &["counter", "keys"], rows);
        }
        self.end_section();
    }

    fn distributions(&mut self) {
        self.section("sizes", "Key sizes and element counts");
        let bars: Vec<Bar> = MEMORY_BUCKETS
            .iter()
            .zip(self.inv.memory_buckets)
            .map(|((l, _), n)| Bar {
                label: l.to_string(),
                value: n,
            })
            .collect();
        self.chart("chart-sizes", "Keys per estimated memory", &bars, |n| {
            n.to_string()
        });
        let rows = bars
            .iter()
            .map(|b| vec![text(b.label.clone()), count(b.value)])
            .collect();
        self.table("table-sizes", &["memory per key", "keys"], rows);
        let bars: Vec<Bar> = ELEMENT_BUCKETS
            .iter()
            .zip(self.inv.element_buckets)
            .map(|((l, _), n)| Bar {
                label: l.to_string(),
                value: n,
            })
            .collect();
        self.chart("chart-elements", "Keys per element count", &bars, |n| {
            n.to_string()
        });
        let rows = bars
            .iter()
            .map(|b| vec![text(b.label.clone()), count(b.value)])
            .collect();
        self.table("table-elements", &["elements per key", "keys"], rows);
        self.end_section();
    }

    fn biggest(&mut self) {
        self.section("biggest", "Biggest keys by memory");
        self.html.push_str(
            "<p class=\"noprint\"><label>Filter <input id=\"filter\" type=\"search\" \
             placeholder=\"key, type, db\"></label> Click a column title to sort.</p>\n",
        );
        let rows = self
            .inv
            .top_by_memory
            .iter()
            .map(|t| {
                vec![
                    text(String::from_utf8_lossy(&t.key)),
                    count(t.db),
                    text(format!("{}/{}", t.type_name, t.encoding)),
                    size(t.memory),
                    count(t.elements),
                    text(
                        self.inv
                            .files
                            .get(t.file)
                            .map(|f| f.name.clone())
                            .unwrap_or_default(),
                    ),
                ]
            })
            .collect();
        self.table(
            "table-biggest",
            &["key", "db", "type/encoding", "memory", "elements", "file"],
            rows,
        );
        self.end_section();
    }

    fn balance(&mut self) {
        self.section("balance", "Per-shard and per-slot balance");
        let bars: Vec<Bar> = self
            .inv
            .files
            .iter()
            .map(|f| Bar {
                label: f.name.rsplit('/').next().unwrap_or(&f.name).to_string(),
                value: f.memory_estimate,
            })
            .collect();
        self.chart(
            "chart-shards",
            "Estimated used_memory per file (shard)",
            &bars,
            units::bytes,
        );
        // Slots in 128 ranges of 128: a heat strip (darker = more memory) and its table.
        const RANGE: usize = 128;
        let ranges: Vec<PrefixStats> = self
            .inv
            .slots
            .chunks(RANGE)
            .map(|c| {
                c.iter().fold(PrefixStats::default(), |mut a, s| {
                    a.keys += s.keys;
                    a.memory += s.memory;
                    a.expires += s.expires;
                    a
                })
            })
            .collect();
        let max = ranges.iter().map(|r| r.memory).max().unwrap_or(0).max(1);
        let _ = write!(
            self.html,
            "<figure><svg class=\"chart\" id=\"chart-slots\" role=\"img\" \
             aria-label=\"Memory per range of 128 hash slots\" viewBox=\"0 0 770 60\" width=\"770\" height=\"60\">"
        );
        for (i, r) in ranges.iter().enumerate() {
            let shade = (r.memory as f64 / max as f64 * 0.9 + 0.05).min(1.0);
            let _ = write!(
                self.html,
                "<rect x=\"{}\" y=\"4\" width=\"5\" height=\"40\" fill=\"#1f5fa8\" fill-opacity=\"{shade:.2}\">\
                 <title>slots {}-{}: {} keys, {}</title></rect>",
                4 + i * 6,
                i * RANGE,
                i * RANGE + RANGE - 1,
                r.keys,
                units::bytes(r.memory)
            );
        }
        self.html.push_str(
            "<text x=\"4\" y=\"58\">slot 0</text><text x=\"700\" y=\"58\">16383</text></svg>\
             <figcaption>Estimated memory per range of 128 hash slots (darker is more)</figcaption></figure>\n",
        );
        let (mut lo, mut hi) = (u64::MAX, 0);
        for r in &ranges {
            lo = lo.min(r.memory);
            hi = hi.max(r.memory);
        }
        let _ = write!(
            self.html,
            "<p>Slot ranges: least {} , most {} of memory.</p>\n<details><summary>Table of the 128 slot ranges</summary>\n",
            units::bytes(if ranges.is_empty() { 0 } else { lo }),
            units::bytes(hi)
        );
        let rows = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    text(format!("{}-{}", i * RANGE, i * RANGE + RANGE - 1)),
                    count(r.keys),
                    size(r.memory),
                ]
            })
            .collect();
        self.table("table-slots", &["slots", "keys", "memory"], rows);
        self.html.push_str("</details>\n");
        let rows = self
            .inv
            .files
            .iter()
            .map(|f| vec![text(f.name.clone()), count(f.keys), size(f.memory_estimate)])
            .collect();
        self.table("table-shards", &["file", "keys", "est. used_memory"], rows);
        self.end_section();
    }
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d232b;padding:0 16px}
h1{font-size:22px;word-break:break-all}h2{font-size:18px;border-bottom:2px solid #1f5fa8;padding-bottom:4px;margin-top:32px}
h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d5dbe3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7;cursor:pointer;user-select:none}td.n{text-align:right;font-variant-numeric:tabular-nums}
td:first-child{word-break:break-all;max-width:520px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{font-weight:600}dd{margin:0}
svg.chart{max-width:100%;height:auto;font-size:12px}svg.chart .bar{fill:#1f5fa8}
figure{margin:8px 0}figcaption{font-size:12px;color:#5a6470}
.flame{position:relative;width:100%;font-size:12px}.flame svg{width:100%}
.flame rect{stroke:#fff;cursor:pointer}.flame text{pointer-events:none}
footer{margin-top:32px;font-size:12px;color:#5a6470}
td:nth-child(2){white-space:nowrap}
@media print{.noprint{display:none}details{display:block}th{cursor:auto}body{margin:0;max-width:none}section{break-inside:auto}}
"#;

const JS: &str = r#"
(function(){
'use strict';
// Sortable, filterable biggest-keys table.
var t=document.getElementById('table-biggest');
if(t){
  var body=t.tBodies[0];
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,col){
    th.addEventListener('click',function(){
      var rows=Array.prototype.slice.call(body.rows);
      var desc=th.getAttribute('data-sort')!=='desc';
      rows.sort(function(a,b){
        var x=a.cells[col],y=b.cells[col];
        var vx=x.hasAttribute('data-v')?Number(x.getAttribute('data-v')):x.textContent;
        var vy=y.hasAttribute('data-v')?Number(y.getAttribute('data-v')):y.textContent;
        var c=vx<vy?-1:vx>vy?1:0;return desc?-c:c;});
      rows.forEach(function(r){body.appendChild(r);});
      th.setAttribute('data-sort',desc?'desc':'asc');
    });
  });
  var f=document.getElementById('filter');
  if(f){f.addEventListener('input',function(){
    var q=f.value.toLowerCase();
    Array.prototype.forEach.call(body.rows,function(r){
      r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});
  });}
}
// Flame graph of pattern segments (memory), click to zoom.
var holder=document.getElementById('flame'),blob=document.getElementById('pattern-data');
if(holder&&blob){
  var data=JSON.parse(blob.textContent);
  var root={name:'all keys',value:0,keys:0,children:{}};
  data.forEach(function(d){
    var parts=d[0].match(/[^:\/|.#]*[:\/|.#]?/g).filter(function(s){return s.length>0;});
    if(parts.length===0)parts=['(empty)'];
    var node=root;root.value+=d[1];root.keys+=d[2];
    parts.forEach(function(p){
      var c=node.children[p];
      if(!c){c=node.children[p]={name:p,value:0,keys:0,children:{},parent:node};}
      c.value+=d[1];c.keys+=d[2];node=c;});
  });
  var NS='http://www.w3.org/2000/svg',W=1000,H=20;
  function depth(n){var d=0;for(var k in n.children){d=Math.max(d,depth(n.children[k]));}return d+1;}
  function path(n){var s='';while(n&&n.parent){s=n.name+s;n=n.parent;}return s;}
  function fmt(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++;}return (i?b.toFixed(1):b)+' '+u[i];}
  function draw(focus){
    while(holder.firstChild)holder.removeChild(holder.firstChild);
    var rows=depth(focus),svg=document.createElementNS(NS,'svg');
    svg.setAttribute('viewBox','0 0 '+W+' '+(rows*H));svg.setAttribute('id','flame-svg');
    function box(n,x,w,level){
      if(w<0.5)return;
      var g=document.createElementNS(NS,'g'),r=document.createElementNS(NS,'rect');
      r.setAttribute('x',x);r.setAttribute('y',level*H);r.setAttribute('width',Math.max(w,0.5));r.setAttribute('height',H-1);
      var hue=200+((n.name.length*37)%40);r.setAttribute('fill','hsl('+hue+',55%,'+(48+level*5%30)+'%)');
      var tt=document.createElementNS(NS,'title');
      tt.textContent=(path(n)||n.name)+' — '+fmt(n.value)+', '+n.keys+' keys';
      g.appendChild(tt);g.appendChild(r);
      if(w>40){var tx=document.createElementNS(NS,'text');tx.setAttribute('x',x+3);tx.setAttribute('y',level*H+14);
        tx.setAttribute('fill','#fff');tx.textContent=n.name.slice(0,Math.floor(w/7));g.appendChild(tx);}
      g.addEventListener('click',function(){draw(n===focus&&n.parent?n.parent:n);});
      svg.appendChild(g);
      var cx=x,kids=Object.keys(n.children).map(function(k){return n.children[k];}).sort(function(a,b){return b.value-a.value;});
      kids.forEach(function(c){var cw=n.value?w*c.value/n.value:0;box(c,cx,cw,level+1);cx+=cw;});
    }
    box(focus,0,W,0);holder.appendChild(svg);
  }
  draw(root);
}
document.body.setAttribute('data-ready','1');
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_escaping() {
        assert_eq!(parse_size("6GB"), Ok(6 << 30));
        assert_eq!(parse_size("12.5 GiB"), Ok(25 << 29));
        assert_eq!(parse_size("500mb"), Ok(500 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("6 parsecs").is_err());
        assert!(parse_size("GB").is_err());
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
