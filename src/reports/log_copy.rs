//! The evidence-log copy a monthly report and its email carry: the
//! checkpoint that closes the month (the latest one for a month to date),
//! verbatim with its cosignatures, the log's verifier key, and whether that
//! checkpoint is consistent with the previous month's. The practice's
//! mailbox and files become an archive of its log's history that whoever
//! runs the portal cannot rewrite.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::Month;
use crate::db::evidence_log as store;
use crate::error::AppResult;
use crate::evidence::proofs;
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle;
use crate::log::note::{self, NoteVerifier};

/// How this month's checkpoint relates to the previous month's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    /// No checkpoint closes the previous month (the log is new).
    NoPrevious,
    /// Proven: the earlier tree is a prefix of this one.
    Consistent { previous_month: String, previous_size: i64 },
    /// Not consistent, or not verifiable: what is wrong.
    Inconsistent(String),
}

impl Consistency {
    /// One sentence for the report and the email.
    pub fn sentence(&self) -> String {
        match self {
            Consistency::NoPrevious => {
                "No checkpoint closes the previous month (the log is newer), so there is nothing to compare \
                 it with yet."
                    .to_owned()
            }
            Consistency::Consistent { previous_month, previous_size } => format!(
                "Consistent with the checkpoint that closed {previous_month} ({previous_size} leaves): \
                 nothing logged by then was changed or removed (RFC 9162 consistency proof, verified)."
            ),
            Consistency::Inconsistent(why) => format!(
                "NOT consistent with the previous month's checkpoint: {why}. Keep this report and last \
                 month's, and tell your auditor."
            ),
        }
    }
}

/// The log's copy for a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCopy {
    /// The checkpoint note, verbatim, with the cosignatures held.
    pub checkpoint: String,
    pub vkey: String,
    pub size: i64,
    pub signed_at: DateTime<Utc>,
    /// True for the checkpoint that closes the month; false for the latest
    /// one of a month to date.
    pub month_end: bool,
    pub consistency: Consistency,
}

fn head(verifier: &NoteVerifier, signed: &str) -> Result<Checkpoint, String> {
    let opened = note::open(signed, verifier).map_err(|e| format!("it does not verify ({e})"))?;
    Checkpoint::parse(&opened.text).map_err(|e| format!("it is not a checkpoint ({e})"))
}

/// The copy for `month`; None when the practice has no log yet, or the
/// checkpoint that closes the month is not signed yet.
pub async fn load(
    db: &impl GenericClient,
    org_id: Uuid,
    month: Month,
    month_to_date: bool,
) -> AppResult<Option<LogCopy>> {
    let Some(vkey) = store::vkey(db, org_id).await? else { return Ok(None) };
    let cp = if month_to_date {
        store::latest_checkpoint(db, org_id).await?
    } else {
        store::month_end_checkpoint(db, org_id, &month.to_string()).await?
    };
    let Some(cp) = cp else { return Ok(None) };
    let checkpoint = proofs::served_note(db, org_id, &cp).await?;
    let consistency = match NoteVerifier::parse(&vkey) {
        Err(e) => Consistency::Inconsistent(format!("the recorded log key is malformed ({e})")),
        Ok(verifier) => match head(&verifier, &cp.note) {
            Err(e) => Consistency::Inconsistent(format!("this month's checkpoint: {e}")),
            Ok(this) => {
                let previous = month.prev();
                match store::month_end_checkpoint(db, org_id, &previous.to_string()).await? {
                    None => Consistency::NoPrevious,
                    Some(prev) => match head(&verifier, &prev.note) {
                        Err(e) => Consistency::Inconsistent(format!(
                            "the previous month's checkpoint: {e}"
                        )),
                        Ok(old) if old.size > this.size => Consistency::Inconsistent(format!(
                            "the log shrank from {} to {} leaves",
                            old.size, this.size
                        )),
                        Ok(old) => {
                            let proof =
                                proofs::consistency(db, org_id, old.size, this.size).await?;
                            match merkle::verify_consistency(
                                old.size, this.size, &old.root, &this.root, &proof,
                            ) {
                                Ok(()) => Consistency::Consistent {
                                    previous_month: previous.label(),
                                    previous_size: old.size as i64,
                                },
                                Err(e) => Consistency::Inconsistent(e.to_string()),
                            }
                        }
                    },
                }
            }
        },
    };
    Ok(Some(LogCopy {
        checkpoint,
        vkey,
        size: cp.size,
        signed_at: cp.signed_at,
        month_end: !month_to_date,
        consistency,
    }))
}
