//! Fixed-window rate limits kept in PostgreSQL, so they hold across instances.

use std::time::Duration;

use tokio_postgres::GenericClient;

use crate::error::AppResult;

/// Counts one hit on `bucket` in the current window of `window`; returns
/// `Some(seconds until the window ends)` when the hit is over `limit`.
pub async fn hit(
    db: &impl GenericClient,
    bucket: &str,
    window: Duration,
    limit: u32,
) -> AppResult<Option<u64>> {
    let secs = window.as_secs().max(1) as f64;
    let row = db
        .query_one(
            "INSERT INTO rate_limits AS r (bucket, window_start, count)
             VALUES ($1, to_timestamp(floor(extract(epoch FROM now())::float8 / $2::float8) * $2::float8), 1)
             ON CONFLICT (bucket, window_start) DO UPDATE SET count = r.count + 1
             RETURNING r.count, ceil(extract(epoch FROM (r.window_start + make_interval(secs => $2) - now())))::float8",
            &[&bucket, &secs],
        )
        .await?;
    let count: i32 = row.get(0);
    let remaining: f64 = row.get(1);
    Ok((count as i64 > limit as i64).then(|| remaining.max(1.0) as u64))
}

// Old windows are deleted by `db::housekeeping`.
