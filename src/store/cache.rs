//! A small read-through cache for the hot path's lookups (a site's webhooks, API tokens).
//!
//! Every change made through this process forgets the affected entries; on PostgreSQL,
//! where other processes make changes too, entries also expire after a short time (the
//! store picks the lifetime per engine). A load that raced with a change (the generation
//! moved while it ran) is not kept, so a stale read can never outlive the change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; beyond this the cache starts over (it is only a shortcut).
const MAX_ENTRIES: usize = 10_000;

pub(super) struct Cache<V> {
    entries: Mutex<HashMap<String, (Instant, V)>>,
    generation: AtomicU64,
    ttl: Duration,
}

impl<V: Clone> Cache<V> {
    pub fn new(ttl: Duration) -> Self {
        Cache {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            ttl,
        }
    }

    /// The value for `key`: cached, or else what `load` finds, which is kept for next time
    /// unless a change raced with the load. A `None` from `load` is not kept.
    pub async fn get_or_load<E>(
        &self,
        key: &str,
        load: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        // Read before the load starts (futures do nothing until awaited).
        let generation = self.generation();
        let loaded = load.await?;
        if let Some(value) = &loaded {
            self.put(key, generation, value.clone());
        }
        Ok(loaded)
    }

    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// Read before loading, and handed back to [`Cache::put`].
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn put(&self, key: &str, loaded_at_generation: u64, value: V) {
        let mut entries = self.entries.lock().expect("cache lock");
        if self.generation() != loaded_at_generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), value));
    }

    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(key);
    }

    pub fn forget_all(&self) {
        let mut entries = self.entries.lock().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_with_a_change_is_not_kept() {
        let cache = Cache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.forget("site_a"); // a change lands while the load runs
        cache.put("site_a", before, 1);
        assert_eq!(cache.get("site_a"), None);
        cache.put("site_a", cache.generation(), 2);
        assert_eq!(cache.get("site_a"), Some(2));
        cache.forget("site_a");
        assert_eq!(cache.get("site_a"), None);
    }

    #[test]
    fn forgetting_everything_also_drops_loads_in_flight() {
        let cache = Cache::new(Duration::from_secs(60));
        cache.put("a", cache.generation(), 1);
        let before = cache.generation();
        cache.forget_all();
        cache.put("b", before, 2);
        assert_eq!((cache.get("a"), cache.get("b")), (None, None));
    }

    #[tokio::test]
    async fn loads_once_and_keeps_only_what_was_found() {
        let cache = Cache::new(Duration::from_secs(60));
        let found = cache.get_or_load("a", async { Ok::<_, ()>(Some(1)) }).await;
        assert_eq!(found, Ok(Some(1)));
        let again = cache.get_or_load("a", async { Ok::<_, ()>(Some(2)) }).await;
        assert_eq!(again, Ok(Some(1)), "the second read comes from the cache");
        assert_eq!(
            cache.get_or_load("b", async { Ok::<_, ()>(None) }).await,
            Ok(None)
        );
        assert_eq!(cache.get("b"), None, "nothing found, nothing kept");
    }

    #[test]
    fn entries_expire() {
        let cache = Cache::new(Duration::ZERO);
        cache.put("s", cache.generation(), 1);
        assert_eq!(cache.get("s"), None);
    }
}
