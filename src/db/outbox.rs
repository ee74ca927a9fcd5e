//! The durable email outbox (`email_outbox`). Mail is written here first,
//! ideally in the same transaction as whatever it announces (a magic link,
//! an invite), and delivered later by the worker in `crate::mail`. Rows are
//! claimed with `FOR UPDATE SKIP LOCKED` and a lease, so several portal
//! instances sharing one database never send one message twice, and a row
//! left `sending` by a crashed instance is picked up again once its lease
//! has expired.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Longest `last_error` kept; server replies can be long and are only a hint.
const MAX_ERROR_LEN: usize = 1000;

/// A message to put into the outbox.
#[derive(Clone)]
pub struct NewMail {
    /// Recipient address (one recipient per message).
    pub to: String,
    pub subject: String,
    /// Plain-text body; every message has one.
    pub text: String,
    /// Optional HTML alternative of the same content.
    pub html: Option<String>,
    /// What the mail is for (`magic_link`, `invite`, `critical_alert`, …),
    /// for logs and the dev mailbox.
    pub kind: &'static str,
    /// The body carries a sign-in or invite link: it is wiped from the table
    /// as soon as an SMTP server has accepted the message.
    pub contains_secret: bool,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &&crate::auth::tokens::REDACTED)
            .field("html", &&crate::auth::tokens::REDACTED)
            .field("kind", &self.kind)
            .field("contains_secret", &self.contains_secret)
            .finish()
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// Claimed by a worker until `locked_until`.
    Sending,
    /// Accepted by the SMTP server (or written to the log without SMTP).
    Sent,
    /// Gave up after `max_attempts`.
    Failed,
}

impl MailStatus {
    /// The word stored in `email_outbox.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sending => "sending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    fn from_db(value: &str) -> AppResult<Self> {
        Ok(match value {
            "pending" => MailStatus::Pending,
            "sending" => MailStatus::Sending,
            "sent" => MailStatus::Sent,
            "failed" => MailStatus::Failed,
            // The table's CHECK constraint makes this unreachable short of a
            // schema change that forgot this function.
            other => {
                return Err(AppError::internal(anyhow::anyhow!(
                    "email_outbox has an unknown status {other:?}"
                )));
            }
        })
    }
}

/// One row of the outbox.
#[derive(Clone)]
pub struct OutboxMail {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    /// Empty once a secret-bearing message has been delivered.
    pub text: String,
    pub html: Option<String>,
    pub kind: String,
    pub status: MailStatus,
    /// Delivery attempts made so far (successful or not).
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub contains_secret: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMail")
            .field("id", &self.id)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &&crate::auth::tokens::REDACTED)
            .field("html", &&crate::auth::tokens::REDACTED)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("last_error", &self.last_error)
            .field("locked_until", &self.locked_until)
            .field("sent_at", &self.sent_at)
            .field("contains_secret", &self.contains_secret)
            .field("created_at", &self.created_at)
            .finish()
    }
}

const COLUMNS: &str = "id, to_address, subject, body_text, body_html, kind, status, attempts, \
     max_attempts, next_attempt_at, last_error, locked_until, sent_at, contains_secret, created_at";

impl OutboxMail {
    fn from_row(row: &Row) -> AppResult<Self> {
        Ok(OutboxMail {
            id: row.try_get("id")?,
            to: row.try_get("to_address")?,
            subject: row.try_get("subject")?,
            text: row.try_get("body_text")?,
            html: row.try_get("body_html")?,
            kind: row.try_get("kind")?,
            status: MailStatus::from_db(row.try_get("status")?)?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            last_error: row.try_get("last_error")?,
            locked_until: row.try_get("locked_until")?,
            sent_at: row.try_get("sent_at")?,
            contains_secret: row.try_get("contains_secret")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Puts a message into the outbox, due at once. Run it inside the caller's
/// transaction so the mail exists exactly when what it announces does; wake
/// the worker (`crate::mail::MailWaker::wake`) after the commit.
pub async fn enqueue(db: &impl GenericClient, mail: &NewMail) -> AppResult<Uuid> {
    insert(db, mail, None, None).await
}

/// Puts a digest mail into the outbox, due at `due`: `key` names what it
/// summarises (one recipient, one subject) and `digest` what it says, so
/// [`pending_digest`] and [`replace_digest`] can fold later news into it
/// while it waits.
pub async fn enqueue_digest(
    db: &impl GenericClient,
    mail: &NewMail,
    key: &str,
    digest: &serde_json::Value,
    due: DateTime<Utc>,
) -> AppResult<Uuid> {
    insert(db, mail, Some((key, digest)), Some(due)).await
}

async fn insert(
    db: &impl GenericClient,
    mail: &NewMail,
    digest: Option<(&str, &serde_json::Value)>,
    due: Option<DateTime<Utc>>,
) -> AppResult<Uuid> {
    let to = mail.to.trim();
    // A recipient with spaces, brackets or control characters could smuggle
    // extra SMTP commands or headers; callers validate addresses, this is the
    // last line of defence.
    let plausible = to.contains('@')
        && !to
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if !plausible {
        return Err(AppError::BadRequest(format!(
            "cannot send mail to {to:?}: not an email address"
        )));
    }
    let row = db
        .query_one(
            "INSERT INTO email_outbox
               (to_address, subject, body_text, body_html, kind, contains_secret, digest_key, digest,
                next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
             RETURNING id",
            &[
                &to,
                &header_safe(&mail.subject),
                &mail.text,
                &mail.html,
                &mail.kind,
                &mail.contains_secret,
                &digest.map(|d| d.0),
                &digest.map(|d| d.1),
                &due,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Line breaks in a subject would start new headers.
fn header_safe(subject: &str) -> String {
    subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The digest under `key` that is still waiting (not claimed by a worker),
/// locked until the caller's transaction ends, with what it says. A worker
/// that claims it first wins: then there is none, and the caller queues a
/// new one.
pub async fn pending_digest(
    db: &impl GenericClient,
    key: &str,
) -> AppResult<Option<(Uuid, serde_json::Value)>> {
    let row = db
        .query_opt(
            "SELECT id, digest FROM email_outbox
              WHERE digest_key = $1 AND status = 'pending'
              ORDER BY next_attempt_at DESC LIMIT 1
              FOR UPDATE",
            &[&key],
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// When the newest digest under `key` was (or is) due, whatever became of it.
pub async fn last_digest_due(
    db: &impl GenericClient,
    key: &str,
) -> AppResult<Option<DateTime<Utc>>> {
    let row = db
        .query_one("SELECT max(next_attempt_at) FROM email_outbox WHERE digest_key = $1", &[&key])
        .await?;
    Ok(row.try_get(0)?)
}

/// Rewrites a waiting digest (from [`pending_digest`]) to say `mail` and
/// `digest`; its recipient, kind and due time stay.
pub async fn replace_digest(
    db: &impl GenericClient,
    id: Uuid,
    mail: &NewMail,
    digest: &serde_json::Value,
) -> AppResult<()> {
    db.execute(
        "UPDATE email_outbox SET subject = $2, body_text = $3, body_html = $4, digest = $5
          WHERE id = $1 AND status = 'pending'",
        &[&id, &header_safe(&mail.subject), &mail.text, &mail.html, digest],
    )
    .await?;
    Ok(())
}

/// Claims up to `batch` messages that are due: pending ones whose
/// `next_attempt_at` has come, and `sending` ones whose lease has run out (an
/// instance died while sending them). They become `sending` until now +
/// `lease`. Rows another transaction is claiming right now are skipped, not
/// waited for, so concurrent workers split the work instead of duplicating it.
/// Oldest first.
pub async fn claim_due(
    db: &impl GenericClient,
    batch: i64,
    lease: Duration,
) -> AppResult<Vec<OutboxMail>> {
    let lease_secs = lease.as_secs_f64();
    let sql = format!(
        "UPDATE email_outbox o
            SET status = 'sending',
                locked_until = now() + make_interval(secs => $2)
          WHERE o.id IN (
                SELECT id FROM email_outbox
                 WHERE (status = 'pending' AND next_attempt_at <= now())
                    OR (status = 'sending' AND locked_until < now())
                 ORDER BY next_attempt_at, created_at
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
          RETURNING {COLUMNS}"
    );
    let rows = db.query(&sql, &[&batch, &lease_secs]).await?;
    let mut mails = rows.iter().map(OutboxMail::from_row).collect::<AppResult<Vec<_>>>()?;
    // RETURNING has no order of its own.
    mails.sort_by_key(|m| (m.next_attempt_at, m.created_at));
    Ok(mails)
}

/// Records a delivery. With `wipe_body` a message that `contains_secret`
/// loses its body in the same UPDATE (the schema insists: a sent secret must
/// not stay in the table). Without it (mail that went to the log, for the
/// dev mailbox) the body stays and the row stops claiming to hold a secret
/// that still needs wiping. Returns false when the row was no longer claimed
/// (another instance took it over after our lease ran out).
pub async fn mark_sent(db: &impl GenericClient, id: Uuid, wipe_body: bool) -> AppResult<bool> {
    let n = db
        .execute(
            "UPDATE email_outbox
                SET status = 'sent',
                    sent_at = now(),
                    locked_until = NULL,
                    attempts = LEAST(attempts + 1, max_attempts),
                    body_text = CASE WHEN $2 AND contains_secret THEN '' ELSE body_text END,
                    body_html = CASE WHEN $2 AND contains_secret THEN NULL ELSE body_html END,
                    contains_secret = contains_secret AND $2
              WHERE id = $1 AND status = 'sending'",
            &[&id, &wipe_body],
        )
        .await?;
    Ok(n == 1)
}

/// Records a failed delivery attempt: back to `pending` until
/// `next_attempt_at`, or `failed` once `max_attempts` are used up (a failed
/// secret-bearing message loses its body too: its link is useless by the time
/// anyone looks). Returns the new status, or `None` when the row was no
/// longer claimed by us.
pub async fn mark_failed_attempt(
    db: &impl GenericClient,
    id: Uuid,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> AppResult<Option<MailStatus>> {
    let error = truncate(error, MAX_ERROR_LEN);
    let row = db
        .query_opt(
            "UPDATE email_outbox
                SET attempts = attempts + 1,
                    status = CASE WHEN attempts + 1 >= max_attempts THEN 'failed' ELSE 'pending' END,
                    body_text = CASE WHEN attempts + 1 >= max_attempts AND contains_secret
                                     THEN '' ELSE body_text END,
                    body_html = CASE WHEN attempts + 1 >= max_attempts AND contains_secret
                                     THEN NULL ELSE body_html END,
                    next_attempt_at = $3,
                    last_error = $2,
                    locked_until = NULL
              WHERE id = $1 AND status = 'sending'
              RETURNING status",
            &[&id, &error, &next_attempt_at],
        )
        .await?;
    row.map(|r| MailStatus::from_db(r.try_get(0)?)).transpose()
}

/// Gives claimed messages back without counting an attempt (the worker is
/// stopping, or its pass ran long and the lease would otherwise lapse while
/// they wait). They are due again at once.
pub async fn release(db: &impl GenericClient, ids: &[Uuid]) -> AppResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(db
        .execute(
            "UPDATE email_outbox
                SET status = 'pending', locked_until = NULL
              WHERE id = ANY($1) AND status = 'sending'",
            &[&ids],
        )
        .await?)
}

/// Gives claimed messages back because the SMTP server could not be
/// reached: no attempt is counted (it was not the message's fault), they
/// stay due, and `error` says why they wait.
pub async fn defer(db: &impl GenericClient, ids: &[Uuid], error: &str) -> AppResult<u64> {
    let error = truncate(error, MAX_ERROR_LEN);
    Ok(db
        .execute(
            "UPDATE email_outbox
                SET status = 'pending', locked_until = NULL, last_error = $2
              WHERE id = ANY($1) AND status = 'sending'",
            &[&ids, &error],
        )
        .await?)
}

/// The newest `limit` messages, newest first (for the dev mailbox).
pub async fn list_recent(db: &impl GenericClient, limit: i64) -> AppResult<Vec<OutboxMail>> {
    let sql = format!("SELECT {COLUMNS} FROM email_outbox ORDER BY created_at DESC, id LIMIT $1");
    db.query(&sql, &[&limit]).await?.iter().map(OutboxMail::from_row).collect()
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        // 'é' is two bytes: cutting inside it backs off to before it.
        assert_eq!(truncate("aé", 2), "a");
    }
}
