//! `portal report`: one practice's monthly report as a PDF file.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;

use super::Month;
use crate::config::Config;
use crate::db::{Database, orgs};
use crate::error::operator_error;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The practice (client org id).
    #[arg(long)]
    pub org: Uuid,
    /// The month, as YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Where to write the PDF.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the report and prints `<path>  <bytes> bytes  sha256 <hex>`. A
/// completed month's report comes from (or goes into) the cache, exactly as
/// the portal serves it; the current month is a month-to-date report.
pub async fn run(db: &Database, config: &Config, args: ReportArgs) -> anyhow::Result<()> {
    let _ = config;
    let month = Month::parse(&args.month).map_err(|e| anyhow::anyhow!("--month: {e}"))?;
    let client = db.pool.get().await.context("connecting to the database")?;
    if !orgs::org_exists(&**client, args.org).await.map_err(operator_error)? {
        anyhow::bail!(
            "no practice with id {} (see `portal admin` to list or create one)",
            args.org
        );
    }
    let now = Utc::now();
    let report =
        super::monthly_report(&**client, args.org, month, now).await.map_err(operator_error)?;
    let Some(report) = report else {
        if month.period(now) == super::Period::Future {
            anyhow::bail!("{month} has not begun yet: there is no report for it");
        }
        anyhow::bail!(
            "no evidence was checked in {month} for practice {}: there is no report for that month",
            args.org
        );
    };
    std::fs::write(&args.out, &report.pdf)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let note = if report.summary.month_to_date { "  (month to date)" } else { "" };
    println!(
        "{}  {} bytes  sha256 {}{note}",
        args.out.display(),
        report.pdf.len(),
        hex::encode(report.summary.pdf_sha256)
    );
    Ok(())
}
