//! Whole-practice verification jobs (src/evidence/integrity.rs).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub log_index: Option<u64>,
    pub site_id: Option<Uuid>,
    pub position: Option<i64>,
    pub bundle_id: Option<String>,
    pub reason: String,
}

/// A verification job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub status: String,
    pub done: i64,
    pub total: i64,
    pub valid: Option<bool>,
    pub size: i64,
    pub problems: Vec<Problem>,
    pub problem_count: i64,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, status, done, size, valid, problems, problem_count, error, started_at, finished_at";

fn job(r: &tokio_postgres::Row) -> AppResult<Job> {
    let problems: serde_json::Value = r.get(5);
    Ok(Job {
        id: r.get(0),
        status: r.get(1),
        done: r.get(2),
        total: r.get(3),
        size: r.get(3),
        valid: r.get(4),
        problems: serde_json::from_value::<Vec<Problem>>(problems).map_err(AppError::internal)?,
        problem_count: r.get(6),
        error: r.get(7),
        started_at: r.get(8),
        finished_at: r.get(9),
    })
}

/// The running job of the practice (a stale one is marked failed first),
/// else the last finished one if it covered `size` leaves, else a new one.
/// True when a new job was made (and must be run).
pub async fn start(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    size: i64,
    stale_after: Duration,
) -> AppResult<(Uuid, bool)> {
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtext('log_verifications'), hashtext($1::uuid::text))",
        &[&org_id],
    )
    .await?;
    db.execute(
        "UPDATE log_verifications SET status = 'failed', finished_at = now(),
                error = 'interrupted (the portal restarted); start it again'
          WHERE client_org_id = $1 AND status = 'running'
            AND heartbeat_at < now() - make_interval(secs => $2)",
        &[&org_id, &(stale_after.num_seconds() as f64)],
    )
    .await?;
    if let Some(r) = db
        .query_opt(
            "SELECT id FROM log_verifications
              WHERE client_org_id = $1 AND (status = 'running' OR (status = 'done' AND size = $2))
              ORDER BY (status = 'running') DESC, started_at DESC LIMIT 1",
            &[&org_id, &size],
        )
        .await?
    {
        return Ok((r.get(0), false));
    }
    let r = db
        .query_one(
            "INSERT INTO log_verifications (client_org_id, started_by, size) VALUES ($1, $2, $3) RETURNING id",
            &[&org_id, &user_id, &size],
        )
        .await?;
    Ok((r.get(0), true))
}

/// A new running job; a conflict while another runs.
pub async fn create(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Option<Uuid>,
    size: i64,
) -> AppResult<Uuid> {
    let r = db
        .query_opt(
            "INSERT INTO log_verifications (client_org_id, started_by, size) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING id",
            &[&org_id, &user_id, &size],
        )
        .await?;
    r.map(|r| r.get(0)).ok_or_else(|| {
        AppError::Conflict(
            "a verification of this practice is running; wait for it to finish".into(),
        )
    })
}

pub async fn get(db: &impl GenericClient, org_id: Uuid, id: Uuid) -> AppResult<Option<Job>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM log_verifications WHERE id = $1 AND client_org_id = $2"),
        &[&id, &org_id],
    )
    .await?
    .as_ref()
    .map(job)
    .transpose()
}

/// The practice's latest job.
pub async fn latest(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<Job>> {
    db.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM log_verifications WHERE client_org_id = $1
              ORDER BY started_at DESC LIMIT 1"
        ),
        &[&org_id],
    )
    .await?
    .as_ref()
    .map(job)
    .transpose()
}

pub async fn progress(db: &impl GenericClient, id: Uuid, done: i64) -> AppResult<()> {
    db.execute(
        "UPDATE log_verifications SET done = $2, heartbeat_at = now() WHERE id = $1",
        &[&id, &done],
    )
    .await?;
    Ok(())
}

pub async fn finish(
    db: &impl GenericClient,
    id: Uuid,
    problems: &[Problem],
    count: i64,
) -> AppResult<()> {
    let json = serde_json::to_value(problems).map_err(AppError::internal)?;
    db.execute(
        "UPDATE log_verifications SET status = 'done', valid = ($3::bigint = 0), problems = $2, problem_count = $3::bigint,
                finished_at = now(), heartbeat_at = now()
          WHERE id = $1",
        &[&id, &json, &count],
    )
    .await?;
    Ok(())
}

pub async fn fail(db: &impl GenericClient, id: Uuid, error: &str) -> AppResult<()> {
    db.execute(
        "UPDATE log_verifications SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
        &[&id, &error],
    )
    .await?;
    Ok(())
}
