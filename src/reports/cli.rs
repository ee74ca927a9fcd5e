//! `portal report`: one practice's monthly report as a PDF file.

use std::path::PathBuf;

use uuid::Uuid;

use crate::config::Config;
use crate::db::Database;

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

pub async fn run(db: &Database, config: &Config, args: ReportArgs) -> anyhow::Result<()> {
    let _ = (db, config, args);
    anyhow::bail!("monthly reports are not built yet")
}
