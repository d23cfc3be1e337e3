//! `rdbkit metrics`: the metrics crosswalk (which metric is called what on Redis
//! `INFO`, OpenTelemetry, ElastiCache CloudWatch, Azure Cache for Redis, Azure Managed
//! Redis, Datadog and Prometheus, and where they work differently). The data is the
//! reviewed table in `rdb_restore::live::crosswalk`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_restore::live::crosswalk::{CrosswalkDocument, ROWS, TITLES};

/// Output formats of `metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One block per concept.
    Text,
    /// `{"columns": {...}, "rows": [...]}`.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// Arguments of `rdbkit metrics`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "[Sx] ids refer to the sources of the project's platform notes \
                        (shared/docs/platforms.md). \"(verify)\" marks unconfirmed names."
)]
pub struct MetricsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Prints the crosswalk; exit 0 (2 when stdout fails).
pub fn run(args: &MetricsArgs) -> ExitCode {
    match print(args.format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn render(format: Format) -> Result<String> {
    Ok(match format {
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&CrosswalkDocument::new()).context("encoding JSON")?;
            s.push('\n');
            s
        }
        Format::Csv => {
            let mut s = TITLES.map(csv_field).join(",");
            s.push('\n');
            for r in ROWS {
                s.push_str(&r.cells().map(csv_field).join(","));
                s.push('\n');
            }
            s
        }
        Format::Text => {
            let mut s = String::new();
            for r in ROWS {
                s.push_str(&format!("{} [{}]\n", r.concept, r.id));
                for (title, cell) in TITLES.iter().zip(r.cells()).skip(2) {
                    s.push_str(&format!("  {title:<36} {cell}\n"));
                }
                s.push('\n');
            }
            s
        }
    })
}

fn print(format: Format) -> Result<()> {
    let out = render(format)?;
    crate::output::print(&out)
}
