//! `portal admin transfer …`: OsirisCare staff's side of the transfer
//! workflow (list, approve, reject, complete), over the area's flows in
//! [`super`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::{Decision, complete, decide};
use crate::config::Config;
use crate::db::Database;
use crate::db::transfers::{self, TransferRequest};
use crate::error::operator_error;
use crate::views::format::partner_label;

#[derive(clap::Subcommand)]
pub enum TransferCommand {
    /// List transfer requests: open ones (pending and approved), oldest first.
    List {
        /// Show every request, settled ones included.
        #[arg(long)]
        all: bool,
    },
    /// Approve a pending request (the practice is told; `complete` moves it).
    Approve {
        id: Uuid,
        /// A note for the practice, shown with the decision.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Reject a pending request.
    Reject {
        id: Uuid,
        /// Why, for the practice.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Complete an approved request: move the practice and its sites.
    Complete { id: Uuid },
}

/// Who is reviewing: the operating-system user running the command.
pub fn reviewer_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().chars().filter(|c| !c.is_control()).take(100).collect::<String>())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "staff".to_owned())
}

/// "3d", "5h", "12m", "now".
fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        _ => "now".to_owned(),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The staff queue as a plain-text table.
pub fn format_table(requests: &[TransferRequest], now: DateTime<Utc>) -> String {
    let rows: Vec<[String; 5]> = requests
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                clip(&r.org_name, 32),
                format!(
                    "{} → {}",
                    clip(&partner_label(r.from_partner.as_ref()), 24),
                    clip(&partner_label(r.to_partner.as_ref()), 24)
                ),
                r.status.to_string(),
                age(r.created_at, now),
            ]
        })
        .collect();
    let header = ["ID", "PRACTICE", "FROM → TO", "STATUS", "AGE"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == widths.len() {
                line.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn mailed_note(n: usize) -> String {
    match n {
        0 => "the practice has no active owner to email".to_owned(),
        1 => "emailed the practice's owner (queued; a running portal delivers it)".to_owned(),
        n => format!("emailed the practice's {n} owners (queued; a running portal delivers it)"),
    }
}

pub async fn run(db: &Database, config: &Config, cmd: TransferCommand) -> anyhow::Result<()> {
    let pool = &db.pool;
    let base = &config.base_url;
    match cmd {
        TransferCommand::List { all } => {
            let client = pool.get().await?;
            let requests =
                transfers::list_requests(&**client, !all).await.map_err(operator_error)?;
            if requests.is_empty() {
                eprintln!(
                    "{}",
                    if all { "no transfer requests" } else { "no open transfer requests" }
                );
                return Ok(());
            }
            print!("{}", format_table(&requests, Utc::now()));
            Ok(())
        }
        TransferCommand::Approve { id, notes } => {
            decide_command(pool, base, id, Decision::Approve, notes.as_deref()).await
        }
        TransferCommand::Reject { id, notes } => {
            decide_command(pool, base, id, Decision::Reject, notes.as_deref()).await
        }
        TransferCommand::Complete { id } => {
            let (r, mailed) =
                complete(pool, base, id, &reviewer_name()).await.map_err(operator_error)?;
            println!(
                "completed transfer request {id}: {} is now served by {}",
                r.org_name,
                partner_label(r.to_partner.as_ref())
            );
            eprintln!("notified the practice; {}", mailed_note(mailed));
            Ok(())
        }
    }
}

async fn decide_command(
    pool: &Pool,
    base: &str,
    id: Uuid,
    decision: Decision,
    notes: Option<&str>,
) -> anyhow::Result<()> {
    let (r, mailed) =
        decide(pool, base, id, decision, &reviewer_name(), notes).await.map_err(operator_error)?;
    let verb = if decision == Decision::Approve { "approved" } else { "rejected" };
    println!(
        "{verb} transfer request {id}: {} ({} → {})",
        r.org_name,
        partner_label(r.from_partner.as_ref()),
        partner_label(r.to_partner.as_ref())
    );
    if decision == Decision::Approve {
        eprintln!("next: move the practice with `portal admin transfer complete {id}`");
    }
    eprintln!("notified the practice; {}", mailed_note(mailed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::transfers::{PartnerRef, TransferStatus};

    #[test]
    fn ages_are_short() {
        let now = Utc::now();
        assert_eq!(age(now, now), "now");
        assert_eq!(age(now - chrono::Duration::minutes(5), now), "5m");
        assert_eq!(age(now - chrono::Duration::hours(30), now), "1d");
        assert_eq!(age(now + chrono::Duration::hours(1), now), "now");
    }

    #[test]
    fn the_table_lines_up() {
        let now = Utc::now();
        let r = TransferRequest {
            id: Uuid::nil(),
            org_id: Uuid::nil(),
            org_name: "Oak Clinic".into(),
            from_partner: Some(PartnerRef { id: Uuid::nil(), name: "Acme IT".into() }),
            to_partner: None,
            requested_by: Uuid::nil(),
            requested_by_email: "o@oak.example".into(),
            reason: None,
            status: TransferStatus::Pending,
            reviewed_at: None,
            reviewed_by: None,
            review_notes: None,
            completed_at: None,
            created_at: now - chrono::Duration::hours(2),
            updated_at: now,
        };
        let table = format_table(&[r], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID "), "{table}");
        assert!(lines[1].contains("Acme IT → OsirisCare (direct)"), "{table}");
        assert!(lines[1].ends_with("pending  2h"), "{table}");
        assert_eq!(lines[0].find("PRACTICE"), lines[1].find("Oak Clinic"));
    }
}
