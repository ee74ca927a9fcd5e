//! Outgoing mail: delivery of the durable outbox (`crate::db::outbox`).
//!
//! Request handlers never talk to SMTP. They [`enqueue`](crate::db::outbox::enqueue)
//! a message (inside their transaction) and, after the commit,
//! [`MailWaker::wake`] the background worker of this process, which sends it
//! at once. Other instances sharing the database pick mail up within the poll
//! interval. When the SMTP server is down nothing is lost: the message waits
//! in the table and is retried with exponential backoff.
//!
//! Without SMTP configured ([`Transport::Log`]) messages are written to the
//! log: in demo mode whole, and kept in the table where the dev mailbox
//! shows them; otherwise with their links' tokens redacted.

mod smtp;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use deadpool_postgres::Pool;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{SmtpConfig, SmtpTls};
use crate::db::outbox::{self, MailStatus, OutboxMail};

pub use smtp::SmtpTransport;

/// How long a claimed message belongs to this instance. A pass gives back
/// what it claims after half of this, so the lease never lapses mid-send.
const LEASE: Duration = Duration::from_secs(300);
/// How often the worker looks for mail enqueued by other instances (or due
/// for a retry) when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often an unreachable SMTP server is tried again: mail goes out
/// within this long of the server answering (it waits unclaimed meanwhile).
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(10);
/// Longest pause after a failed pass (the database is unreachable).
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(60);
/// How long [`WorkerHandle::shutdown`] waits for a pass in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Transport {
    /// A real SMTP server.
    Smtp(SmtpTransport),
    /// No SMTP configured: the message goes to the log. In the demo
    /// (`demo: true`) whole, and kept in the table for the dev mailbox;
    /// otherwise with every link's token redacted and, for a message that
    /// carries one, its body wiped from the table: a log is no place for a
    /// live sign-in link.
    Log { demo: bool },
}

impl Transport {
    /// SMTP when it is configured, the log otherwise (whole in the demo).
    pub fn from_config(smtp: Option<&SmtpConfig>, demo: bool) -> Transport {
        match smtp {
            Some(config) => Transport::smtp(config.clone()),
            None => Transport::Log { demo },
        }
    }

    /// Delivery through `config`'s SMTP server, verifying its certificate.
    pub fn smtp(config: SmtpConfig) -> Transport {
        Transport::Smtp(SmtpTransport {
            config,
            accept_invalid_certs: false,
            timeout: smtp::DEFAULT_TIMEOUT,
        })
    }

    /// Accepts any TLS certificate from the SMTP server. For tests against a
    /// self-signed server only: it gives up the protection TLS exists for.
    pub fn accept_invalid_certs(mut self) -> Transport {
        if let Transport::Smtp(s) = &mut self {
            s.accept_invalid_certs = true;
        }
        self
    }

    /// Changes how long one SMTP step may take (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Transport {
        if let Transport::Smtp(s) = &mut self {
            s.timeout = timeout;
        }
        self
    }

    /// Where mail goes, for the start-up log line (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(s) => {
                let tls = match s.config.tls {
                    SmtpTls::None => "no TLS",
                    SmtpTls::StartTls => "STARTTLS",
                    SmtpTls::Implicit => "implicit TLS",
                };
                let auth = if s.config.username.is_some() { ", signed in" } else { "" };
                format!(
                    "SMTP {}:{} ({tls}{auth}) from {}",
                    s.config.host, s.config.port, s.config.from
                )
            }
            Transport::Log { demo: true } => {
                "the log and the dev mailbox (PORTAL_SMTP_HOST is not set)".to_owned()
            }
            Transport::Log { demo: false } => {
                "the log, links redacted (PORTAL_SMTP_HOST is not set)".to_owned()
            }
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PassReport {
    claimed: usize,
    sent: usize,
    failed: usize,
    released: usize,
    /// The SMTP server could not be reached (why); the mail waits unclaimed.
    unreachable: Option<String>,
}

/// Delivers every message that is due now, then returns how many were sent.
/// Failed attempts are rescheduled with backoff (they are not due again in
/// this pass). Safe to run concurrently, in this process or others: each
/// message is claimed by exactly one pass.
pub async fn deliver_due(pool: &Pool, transport: &Transport) -> anyhow::Result<usize> {
    Ok(run_pass(pool, transport, None).await?.sent)
}

async fn run_pass(
    pool: &Pool,
    transport: &Transport,
    stop: Option<&watch::Receiver<bool>>,
) -> anyhow::Result<PassReport> {
    let started = Instant::now();
    let mut report = PassReport::default();
    let mut session: Option<smtp::Session> = None;
    let result = async {
        loop {
            // One message per claim: a pass that dies (database gone, the
            // process killed) strands at most the message it was sending,
            // never a batch waiting out its lease.
            let mail = {
                let db = pool.get().await.context("the mail worker cannot reach the database")?;
                match outbox::claim_due(&**db, 1, LEASE).await.context("claiming due mail")?.pop() {
                    Some(mail) => mail,
                    None => return Ok(()),
                }
            };
            report.claimed += 1;
            let stopping = stop.is_some_and(|s| *s.borrow());
            if stopping || started.elapsed() > LEASE / 2 {
                let ids = [mail.id];
                report.released += retrying(pool, "giving back claimed mail", |db| async move {
                    outbox::release(&**db, &ids).await
                })
                .await? as usize;
                return Ok(());
            }
            match transport {
                Transport::Log { demo } => {
                    log_mail(&mail, *demo);
                    record_sent(pool, &mail, !*demo, &mut report).await?;
                }
                Transport::Smtp(smtp) => {
                    let conn = match &mut session {
                        Some(conn) => conn,
                        None => match smtp.connect().await {
                            Ok(conn) => session.insert(conn),
                            Err(error) => {
                                // The server is unreachable: not the message's
                                // fault, so no attempt is counted. It is due
                                // again at once, and the worker knocks again
                                // every UNREACHABLE_PAUSE until the server
                                // answers; mail then goes out within seconds.
                                let ids = [mail.id];
                                let note = error.clone();
                                retrying(pool, "giving back mail the server did not take", |db| {
                                    let note = note.clone();
                                    async move { outbox::defer(&**db, &ids, &note).await }
                                })
                                .await?;
                                report.unreachable = Some(error);
                                return Ok(());
                            }
                        },
                    };
                    match conn.send(smtp, &mail).await {
                        Ok(()) => record_sent(pool, &mail, true, &mut report).await?,
                        Err(error) => {
                            if !(error.connection_usable && conn.reset().await) {
                                session = None;
                            }
                            record_failure(pool, &mail, &error.message, &mut report).await?;
                        }
                    }
                }
            }
        }
    }
    .await;
    if let Some(conn) = session {
        conn.quit().await;
    }
    result.map(|()| report)
}

/// How long a record of a delivery is retried on fresh connections when
/// the database is away (restarting, failing over) before the pass gives up.
const RECORD_RETRY_FOR: Duration = Duration::from_secs(60);

/// Runs `op` on a pool connection, and again on a fresh one while the
/// database is unreachable, for up to [`RECORD_RETRY_FOR`]: a connection
/// that died under a delivery must not turn into a second delivery.
async fn retrying<T, F, Fut>(pool: &Pool, what: &str, mut op: F) -> anyhow::Result<T>
where
    F: FnMut(deadpool_postgres::Object) -> Fut,
    Fut: std::future::Future<Output = crate::error::AppResult<T>>,
{
    let deadline = Instant::now() + RECORD_RETRY_FOR;
    let mut pause = Duration::from_millis(200);
    loop {
        let error = match pool.get().await {
            Ok(db) => match op(db).await {
                Ok(value) => return Ok(value),
                Err(e) => anyhow::Error::from(e),
            },
            Err(e) => anyhow::Error::from(e),
        };
        if Instant::now() + pause > deadline {
            return Err(error.context(what.to_owned()));
        }
        tracing::debug!(error = format!("{error:#}"), "{what}: retrying on a fresh connection");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn record_sent(
    pool: &Pool,
    mail: &OutboxMail,
    wipe_body: bool,
    report: &mut PassReport,
) -> anyhow::Result<()> {
    // The server has the message: record that on a fresh connection if this
    // one died. Only if the database stays away past RECORD_RETRY_FOR (or
    // the process dies right now) does the row stay claimed, to be sent
    // again once its lease runs out: at least once, never lost.
    let id = mail.id;
    let ours = retrying(pool, &format!("recording that mail {id} was sent"), |db| async move {
        outbox::mark_sent(&**db, id, wipe_body).await
    })
    .await?;
    if ours {
        report.sent += 1;
        tracing::info!(mail_id = %mail.id, kind = %mail.kind, to = %mail.to, "mail sent");
    } else {
        tracing::warn!(mail_id = %mail.id, "mail sent, but another instance had taken it over; it may arrive twice");
    }
    Ok(())
}

async fn record_failure(
    pool: &Pool,
    mail: &OutboxMail,
    error: &str,
    report: &mut PassReport,
) -> anyhow::Result<()> {
    let delay = backoff(mail.attempts + 1);
    let next = chrono::Utc::now()
        + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(1));
    let id = mail.id;
    let status =
        retrying(pool, &format!("recording a failed attempt of mail {id}"), |db| async move {
            outbox::mark_failed_attempt(&**db, id, error, next).await
        })
        .await?;
    report.failed += 1;
    match status {
        Some(MailStatus::Failed) => tracing::error!(
            mail_id = %mail.id, kind = %mail.kind, to = %mail.to,
            attempts = mail.attempts + 1, %error,
            "mail could not be delivered; giving up"
        ),
        Some(_) => tracing::warn!(
            mail_id = %mail.id, kind = %mail.kind,
            attempt = mail.attempts + 1, retry_in_secs = delay.as_secs(), %error,
            "mail not delivered yet; will retry"
        ),
        None => {}
    }
    Ok(())
}

/// The fallback without SMTP: the message in the log, whole in the demo
/// (so a sign-in link can be followed), otherwise with tokens redacted.
fn log_mail(mail: &OutboxMail, demo: bool) {
    let text = if demo { mail.text.clone() } else { redact_tokens(&mail.text) };
    tracing::info!(
        mail_id = %mail.id,
        kind = %mail.kind,
        to = %mail.to,
        subject = %mail.subject,
        "mail (no SMTP server configured, so it is shown here instead of sent):\n{text}",
    );
}

/// `…?token=abc123` → `…?token=[redacted]`, for every `token=` in `text`.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("token=") {
        let (head, tail) = rest.split_at(i + "token=".len());
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%'))
            })
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str("[redacted]");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Wait before attempt `failures + 1`: 30 s, 1 min, 2 min, 4 min … at most an
/// hour, each ±10 % so that messages failed together do not retry in step.
pub fn backoff(failures: i32) -> Duration {
    let exponent = failures.clamp(1, 20) - 1;
    let base = 30.0 * 2f64.powi(exponent);
    // Jitter from the OS generator; without one, no jitter is still correct.
    let unit = getrandom::u32().map_or(0.5, |r| f64::from(r) / f64::from(u32::MAX));
    let secs = (base * (0.9 + 0.2 * unit)).min(3600.0);
    Duration::from_secs_f64(secs)
}

/// Wakes this process's mail worker. Cheap to clone; keep one in the app
/// state and call [`wake`](Self::wake) after committing a transaction that
/// enqueued mail. Waking with no worker running does nothing harmful.
#[derive(Debug, Clone, Default)]
pub struct MailWaker(Arc<Notify>);

impl MailWaker {
    /// A waker not yet attached to a worker (see [`spawn_worker_with`]).
    pub fn new() -> MailWaker {
        MailWaker::default()
    }

    /// Asks the worker to look at the outbox now. A wake-up that arrives
    /// while a pass is running triggers one more pass right after it.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running worker; [`shutdown`](Self::shutdown) stops it.
#[derive(Debug)]
pub struct WorkerHandle {
    waker: MailWaker,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Same as `self.waker().wake()`.
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// A waker for request handlers.
    pub fn waker(&self) -> MailWaker {
        self.waker.clone()
    }

    /// Stops the worker: a pass in progress finishes the message it is
    /// sending and gives the rest back to the outbox. Waits up to 30 s; after
    /// that the task is aborted and its claimed mail is retried by whichever
    /// instance runs next, once the lease has expired.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_panic() => tracing::error!(error = %e, "the mail worker panicked"),
            Ok(Err(_)) => {}
            Err(_) => {
                tracing::warn!("the mail worker did not stop in time; aborting it");
                self.task.abort();
            }
        }
    }
}

/// Starts the background worker: delivers due mail, then sleeps until woken
/// or for the poll interval (5 s). Call once per process, at start-up.
pub fn spawn_worker(pool: Pool, transport: Transport) -> WorkerHandle {
    spawn_worker_with(pool, transport, MailWaker::new())
}

/// [`spawn_worker`] with a waker created earlier (for example one already
/// placed in the app state).
pub fn spawn_worker_with(pool: Pool, transport: Transport, waker: MailWaker) -> WorkerHandle {
    let (stop_tx, stop_rx) = watch::channel(false);
    let notify = waker.0.clone();
    tracing::info!(transport = %transport.describe(), "mail worker started");
    let task = tokio::spawn(worker_loop(pool, transport, notify, stop_rx));
    WorkerHandle { waker, stop: stop_tx, task }
}

async fn worker_loop(
    pool: Pool,
    transport: Transport,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    let mut unreachable = false;
    loop {
        if *stop.borrow() {
            break;
        }
        let pause = match run_pass(&pool, &transport, Some(&stop)).await {
            Ok(report) => {
                failures = 0;
                if report.claimed > 0 {
                    tracing::debug!(?report, "mail pass");
                }
                match (&report.unreachable, unreachable) {
                    (Some(error), false) => tracing::warn!(
                        %error,
                        retry_every_secs = UNREACHABLE_PAUSE.as_secs(),
                        "the SMTP server cannot be reached; mail waits in the outbox and goes out as soon as it answers"
                    ),
                    (None, true) if report.claimed > 0 => {
                        tracing::info!(
                            "the SMTP server answers again; delivering the mail that waited"
                        )
                    }
                    _ => {}
                }
                if report.claimed > 0 || report.unreachable.is_some() {
                    unreachable = report.unreachable.is_some();
                }
                if unreachable {
                    // Knock again after a pause; new mail does not hurry it.
                    tokio::select! {
                        _ = tokio::time::sleep(UNREACHABLE_PAUSE) => {}
                        _ = stop.changed() => break,
                    }
                    continue;
                }
                if report.released > 0 {
                    // The pass ran long and gave mail back unsent: go on
                    // at once with a fresh lease (unless stopping, below).
                    Duration::ZERO
                } else {
                    POLL_INTERVAL
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let pause = POLL_INTERVAL
                    .saturating_mul(2u32.saturating_pow(failures - 1))
                    .min(MAX_ERROR_PAUSE);
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_secs = pause.as_secs(),
                    "mail delivery pass failed"
                );
                pause
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            // Changed or sender gone: either way, time to stop.
            _ = stop.changed() => break,
        }
    }
    tracing::info!("mail worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_and_stops_at_an_hour() {
        let within = |d: Duration, secs: f64| {
            let s = d.as_secs_f64();
            s >= secs * 0.9 - 1e-9 && s <= secs * 1.1 + 1e-9
        };
        assert!(within(backoff(1), 30.0), "{:?}", backoff(1));
        assert!(within(backoff(2), 60.0), "{:?}", backoff(2));
        assert!(within(backoff(3), 120.0), "{:?}", backoff(3));
        assert!(within(backoff(4), 240.0), "{:?}", backoff(4));
        for n in [8, 9, 20, 1000] {
            let d = backoff(n);
            assert!(d <= Duration::from_secs(3600), "{n}: {d:?}");
            assert!(d >= Duration::from_secs(3240), "{n}: {d:?}");
        }
        assert!(within(backoff(0), 30.0));
    }

    #[test]
    fn links_lose_their_tokens_in_the_log() {
        let text = "Sign in: https://p.example/client/verify?token=AbC-12_x.y~%2F\nInvite: \
                    https://p.example/client/invite?token=zzz&next=/a and token= alone";
        let out = redact_tokens(text);
        assert!(!out.contains("AbC") && !out.contains("zzz"), "{out}");
        assert_eq!(out.matches("token=[redacted]").count(), 2, "{out}");
        assert!(out.contains("&next=/a and token= alone"), "the rest stays: {out}");
    }

    #[test]
    fn the_description_never_shows_the_password() {
        let config = SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: Some("portal".into()),
            password: Some(crate::config::Secret::new("hunter2-very-secret".into())),
            from: "Portal <portal@example.com>".into(),
        };
        let t = Transport::smtp(config);
        assert!(!t.describe().contains("hunter2"), "{}", t.describe());
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(t.describe().contains("smtp.example.com:587"));
    }
}
