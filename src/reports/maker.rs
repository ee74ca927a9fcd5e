//! Work done once per key at a time, in the background or for a caller
//! that waits: the reports list asks for missing months and answers at
//! once, a download of a month being made waits for that month only.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

/// Runs of work per key: at most one at a time for a key, at most
/// `parallel` in the background at once; the latest value each made.
pub struct Maker<K, V> {
    inner: Mutex<Inner<K, V>>,
    slots: Arc<Semaphore>,
    /// Woken whenever a run ends.
    ended: Notify,
}

struct Inner<K, V> {
    /// Keys with a run queued or running.
    running: HashMap<K, Run>,
    made: HashMap<K, (V, Instant)>,
    /// Numbers the runs, so a queued background run can tell whether a
    /// caller took its key over meanwhile.
    next_ticket: u64,
}

/// A key's run: what wakes its waiters, whether it has started, and whose
/// it is.
struct Run {
    ended: Arc<Notify>,
    started: bool,
    ticket: u64,
}

impl<K, V> Maker<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
{
    pub fn new(parallel: usize) -> Self {
        Maker {
            inner: Mutex::new(Inner {
                running: HashMap::new(),
                made: HashMap::new(),
                next_ticket: 0,
            }),
            slots: Arc::new(Semaphore::new(parallel.max(1))),
            ended: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` has a run queued or running.
    pub fn is_running(&self, key: &K) -> bool {
        self.lock().running.contains_key(key)
    }

    /// The latest value made for `key`, and how old it is.
    pub fn latest(&self, key: &K) -> Option<(V, Duration)> {
        self.lock().made.get(key).map(|(v, at)| (v.clone(), at.elapsed()))
    }

    /// Starts `work` for `key` in the background, unless a run of it is
    /// queued or running; it waits for one of the background slots. Its
    /// value, if any, becomes the key's latest. True when this call
    /// started it.
    pub fn start<F>(&'static self, key: K, work: F) -> bool
    where
        F: Future<Output = Option<V>> + Send + 'static,
    {
        let ticket = {
            let mut inner = self.lock();
            if inner.running.contains_key(&key) {
                return false;
            }
            inner.next_ticket += 1;
            let ticket = inner.next_ticket;
            inner.running.insert(
                key.clone(),
                Run { ended: Arc::new(Notify::new()), started: false, ticket },
            );
            ticket
        };
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                self.end(&key, None);
                return;
            };
            // Unless a caller took the key over while this waited (its run
            // then ends the key).
            {
                let mut inner = self.lock();
                match inner.running.get_mut(&key) {
                    Some(run) if run.ticket == ticket && !run.started => run.started = true,
                    _ => return,
                }
            }
            let value = work.await;
            self.end(&key, value);
        });
        true
    }

    /// Runs `work` for `key` now, without waiting for a background slot:
    /// a background run of the key still queued is taken over (it will not
    /// run), and one already running is waited for first (then `work`
    /// finds what it made).
    pub async fn run<F, T>(&self, key: K, work: F) -> T
    where
        F: Future<Output = (T, Option<V>)>,
    {
        loop {
            let waiting = {
                let mut inner = self.lock();
                inner.next_ticket += 1;
                let ticket = inner.next_ticket;
                match inner.running.get_mut(&key) {
                    Some(run) if run.started => run.ended.clone(),
                    Some(run) => {
                        run.started = true;
                        run.ticket = ticket;
                        break;
                    }
                    None => {
                        inner.running.insert(
                            key.clone(),
                            Run { ended: Arc::new(Notify::new()), started: true, ticket },
                        );
                        break;
                    }
                }
            };
            let ended = waiting.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.is_running(&key) {
                ended.await;
            }
        }
        // Ends the run even if the caller stops waiting (a dropped request).
        struct Ending<'a, K: Eq + Hash + Clone + Send + Sync + 'static, V: Clone + Send + 'static> {
            maker: &'a Maker<K, V>,
            key: Option<K>,
            value: Option<V>,
        }
        impl<K: Eq + Hash + Clone + Send + Sync + 'static, V: Clone + Send + 'static> Drop
            for Ending<'_, K, V>
        {
            fn drop(&mut self) {
                if let Some(key) = self.key.take() {
                    self.maker.end(&key, self.value.take());
                }
            }
        }
        let mut ending = Ending { maker: self, key: Some(key), value: None };
        let (out, value) = work.await;
        ending.value = value;
        drop(ending);
        out
    }

    fn end(&self, key: &K, value: Option<V>) {
        let notify = {
            let mut inner = self.lock();
            if let Some(v) = value {
                inner.made.insert(key.clone(), (v, Instant::now()));
            }
            inner.running.remove(key)
        };
        if let Some(run) = notify {
            run.ended.notify_waiters();
        }
        self.ended.notify_waiters();
    }

    /// Waits until no key that `which` picks has a run queued or running.
    pub async fn settled(&self, which: impl Fn(&K) -> bool) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !self.lock().running.keys().any(&which) {
                return;
            }
            ended.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_runs_once_at_a_time_and_waiters_get_what_it_made() {
        static MAKER: std::sync::LazyLock<Maker<u32, &'static str>> =
            std::sync::LazyLock::new(|| Maker::new(1));
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        assert!(MAKER.start(1, async move {
            let _ = wait.await;
            Some("made in the background")
        }));
        assert!(!MAKER.start(1, async { Some("a second run") }), "one run of a key at a time");
        assert!(MAKER.is_running(&1));
        // A caller of the same key waits for the run, then runs its own.
        let waiter = tokio::spawn(async {
            MAKER.run(1, async { (MAKER.latest(&1).map(|(v, _)| v), None) }).await
        });
        // Both tasks get going: the run waits for its signal, the caller
        // for the run (without that it would read no value at all).
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        // Another key is not held up by the first.
        assert_eq!(MAKER.run(2, async { (7, Some("two")) }).await, 7);
        assert_eq!(MAKER.latest(&2).map(|(v, _)| v), Some("two"));
        go.send(()).unwrap();
        assert_eq!(waiter.await.unwrap(), Some("made in the background"));
        MAKER.settled(|_| true).await;
        assert!(!MAKER.is_running(&1));
    }

    /// A caller never waits behind other keys' queued background runs: it
    /// takes its key's queued run over, and that run does not happen.
    #[tokio::test]
    async fn a_caller_takes_over_its_keys_queued_run() {
        static MAKER: std::sync::LazyLock<Maker<u32, u32>> =
            std::sync::LazyLock::new(|| Maker::new(1));
        static QUEUED_RAN: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        // Key 1 holds the only background slot; key 2 queues behind it.
        assert!(MAKER.start(1, async move {
            let _ = wait.await;
            Some(1)
        }));
        tokio::task::yield_now().await;
        assert!(MAKER.start(2, async {
            QUEUED_RAN.store(true, std::sync::atomic::Ordering::SeqCst);
            Some(20)
        }));
        // Done at once, though key 1 still runs and key 2 was queued.
        assert_eq!(MAKER.run(2, async { ("now", Some(2)) }).await, "now");
        assert!(!MAKER.is_running(&2));
        go.send(()).unwrap();
        MAKER.settled(|_| true).await;
        assert!(
            !QUEUED_RAN.load(std::sync::atomic::Ordering::SeqCst),
            "the queued run was taken over"
        );
        assert_eq!(MAKER.latest(&2).map(|(v, _)| v), Some(2));
        assert_eq!(MAKER.latest(&1).map(|(v, _)| v), Some(1));
    }
}
