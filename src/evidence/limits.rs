//! Limits on ingest, kept in this process's memory (no database write per
//! bundle): bundles per site per minute once a bundle is authenticated, and
//! failed attempts (bad signature, unknown site, malformed body) per client
//! address per minute, so that anonymous junk cannot keep the portal busy.
//! Each instance counts its own traffic; behind a load balancer the limits
//! are per instance. Over a limit: 429 with Retry-After.
//!
//! Bodies are bounded too: a bundle must be read whole before its
//! signature can be checked, so the bytes of bodies being read or handled
//! at once are held under [`BODY_BUDGET`]. A body waits (its bytes stay in
//! the kernel's socket buffer, not here) for room up to [`BODY_WAIT`], then
//! gets a 429; once reading starts it must arrive within [`BODY_READ`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failed ingest attempts per client address per window.
pub const FAILURES_PER_ADDRESS: u32 = 120;
/// Bytes of ingest bodies held in memory at once, whoever sends them: 8
/// bundles of the largest size (1 MiB), or hundreds of usual ones.
pub const BODY_BUDGET: usize = 8 * 1024 * 1024;
/// Largest body of a batch of bundles (`POST /api/appliance/evidence/batch`):
/// half the budget, so two batches can be read at once.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Longest a body waits for room in [`BODY_BUDGET`] before a 429.
pub const BODY_WAIT: Duration = Duration::from_secs(10);
/// Longest a body may take to arrive once its reading has started.
pub const BODY_READ: Duration = Duration::from_secs(60);
/// The budget's unit: a body takes its size rounded up to whole KiB.
const BUDGET_UNIT: usize = 1024;

/// Counters kept before expired ones are swept out.
const SWEEP_AT: usize = 10_000;

/// Fixed-window counters by key.
#[derive(Debug, Default)]
struct Counters(Mutex<HashMap<String, (Instant, u32)>>);

impl Counters {
    /// Counts a hit on `key` against `limit`; the seconds until the window
    /// ends when the limit is already reached.
    fn hit(&self, key: String, limit: u32, now: Instant) -> Result<(), u64> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether `key` has reached `limit` in its current window.
    fn full(&self, key: &str, limit: u32, now: Instant) -> Option<u64> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (start, n) = map.get(key)?;
        let elapsed = now.duration_since(*start);
        (elapsed < WINDOW && *n >= limit).then(|| WINDOW.saturating_sub(elapsed).as_secs().max(1))
    }
}

/// The ingest limits of one process.
#[derive(Debug)]
pub struct IngestLimits {
    /// Bundles per site per minute; 0 turns the limit off (benchmarks).
    per_site: u32,
    sites: Counters,
    failures: Counters,
    /// [`BODY_BUDGET`] in [`BUDGET_UNIT`]s.
    bodies: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Room for one body in [`BODY_BUDGET`], given back when dropped (when the
/// request that holds the bytes is done).
#[derive(Debug)]
pub struct BodyRoom {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl IngestLimits {
    pub fn new(per_site: u32) -> IngestLimits {
        IngestLimits {
            per_site,
            sites: Counters::default(),
            failures: Counters::default(),
            bodies: std::sync::Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET / BUDGET_UNIT)),
        }
    }

    /// Waits up to [`BODY_WAIT`] for room for a body of `size` bytes (the
    /// largest allowed when the client did not say): a 429 when the
    /// budget stays full, so memory stays bounded however many clients
    /// send at once.
    pub async fn body_room(&self, size: usize) -> AppResult<BodyRoom> {
        let units = size.div_ceil(BUDGET_UNIT).clamp(1, BODY_BUDGET / BUDGET_UNIT);
        let units = u32::try_from(units).expect("the budget fits in u32 units");
        let wait = self.bodies.clone().acquire_many_owned(units);
        match tokio::time::timeout(BODY_WAIT, wait).await {
            Ok(Ok(permit)) => Ok(BodyRoom { _permit: permit }),
            _ => Err(AppError::TooManyRequests {
                message: "the portal is receiving many bundles at once; send this one again \
                          after Retry-After (nothing of it was stored)"
                    .into(),
                retry_after_secs: 5,
            }),
        }
    }

    /// Bytes of body room free right now (tests and benchmarks).
    pub fn body_room_free(&self) -> usize {
        self.bodies.available_permits() * BUDGET_UNIT
    }

    /// Counts an authenticated bundle of `site`: a 429 past the limit.
    pub fn check_site(&self, site: Uuid) -> AppResult<()> {
        if self.per_site == 0 {
            return Ok(());
        }
        self.sites.hit(site.to_string(), self.per_site, Instant::now()).map_err(|secs| {
            AppError::TooManyRequests {
                message: format!(
                    "this site sent more than {} bundles in a minute; send the rest after \
                     Retry-After (nothing of this bundle was stored)",
                    self.per_site
                ),
                retry_after_secs: secs,
            }
        })
    }

    /// A 429 when the client address has failed too often this minute.
    pub fn check_address(&self, address: &str) -> AppResult<()> {
        match self.failures.full(address, FAILURES_PER_ADDRESS, Instant::now()) {
            None => Ok(()),
            Some(secs) => Err(AppError::TooManyRequests {
                message: format!(
                    "more than {FAILURES_PER_ADDRESS} refused bundles from your address in a \
                     minute; fix the appliance's key or bundle format, then retry after Retry-After"
                ),
                retry_after_secs: secs,
            }),
        }
    }

    /// Counts a refused attempt from the client address.
    pub fn failed(&self, address: &str) {
        let _ = self.failures.hit(address.to_owned(), u32::MAX, Instant::now());
    }

    /// Counts `refusal` against the client address when it is one that
    /// guessing or a broken appliance causes: a bad signature, a malformed
    /// or oversized bundle.
    pub fn refused(&self, address: &str, refusal: &AppError) {
        if matches!(
            refusal,
            AppError::Unauthorized(_) | AppError::BadRequest(_) | AppError::PayloadTooLarge(_)
        ) {
            self.failed(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bodies_beyond_the_budget_wait_then_get_a_429_and_room_comes_back() {
        let l = IngestLimits::new(0);
        let big: Vec<BodyRoom> = futures_util::future::join_all(
            (0..BODY_BUDGET / (1024 * 1024)).map(|_| l.body_room(1024 * 1024)),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(l.body_room_free(), 0);
        // While the budget is taken even a 1-byte body waits, then hears 429.
        match l.body_room(1).await {
            Err(AppError::TooManyRequests { retry_after_secs, .. }) => {
                assert!(retry_after_secs > 0)
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        drop(big);
        assert_eq!(l.body_room_free(), BODY_BUDGET);
        let small = l.body_room(10_000).await.unwrap();
        assert_eq!(l.body_room_free(), BODY_BUDGET - 10 * 1024, "whole KiB");
        drop(small);
    }

    #[test]
    fn counters_refuse_past_the_limit_until_the_window_ends() {
        let c = Counters::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(c.hit("a".into(), 3, t0).is_ok());
        }
        let retry = c.hit("a".into(), 3, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(retry, 40);
        assert!(c.hit("b".into(), 3, t0).is_ok(), "another key has its own count");
        assert!(c.hit("a".into(), 3, t0 + WINDOW).is_ok(), "a new window");
        assert_eq!(c.full("a", 1, t0 + WINDOW), Some(60));
        assert_eq!(c.full("zz", 1, t0), None);
    }

    #[test]
    fn a_zero_site_limit_is_off() {
        let l = IngestLimits::new(0);
        for _ in 0..10 {
            l.check_site(Uuid::nil()).unwrap();
        }
        let l = IngestLimits::new(2);
        l.check_site(Uuid::nil()).unwrap();
        l.check_site(Uuid::nil()).unwrap();
        assert!(matches!(l.check_site(Uuid::nil()), Err(AppError::TooManyRequests { .. })));
    }
}
