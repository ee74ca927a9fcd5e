//! Moving a practice to another MSP partner: the owner asks, OsirisCare
//! staff review (`portal admin transfer ...`), completion moves the practice.

use uuid::Uuid;

use crate::config::Config;
use crate::db::Database;

#[derive(clap::Subcommand)]
pub enum TransferCommand {
    /// List open transfer requests (pending and approved).
    List,
    /// Approve a pending request.
    Approve {
        id: Uuid,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Reject a pending request.
    Reject {
        id: Uuid,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Complete an approved request: move the practice and its sites.
    Complete { id: Uuid },
}

pub async fn run_cli(db: &Database, config: &Config, cmd: TransferCommand) -> anyhow::Result<()> {
    let _ = (db, config, cmd);
    anyhow::bail!("transfers are not built yet")
}
