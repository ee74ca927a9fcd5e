//! Limits on ingest, kept in this process's memory (no database write per
//! bundle): bundles per site per minute once a bundle is authenticated, and
//! failed attempts (bad signature, unknown site, malformed body) per client
//! address per minute, so that anonymous junk cannot keep the portal busy.
//! Each instance counts its own traffic; behind a load balancer the limits
//! are per instance. Over a limit: 429 with Retry-After.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failed ingest attempts per client address per window.
pub const FAILURES_PER_ADDRESS: u32 = 120;
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
#[derive(Debug, Default)]
pub struct IngestLimits {
    /// Bundles per site per minute; 0 turns the limit off (benchmarks).
    per_site: u32,
    sites: Counters,
    failures: Counters,
}

impl IngestLimits {
    pub fn new(per_site: u32) -> IngestLimits {
        IngestLimits { per_site, ..Default::default() }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
