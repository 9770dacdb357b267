//! Rate limits: a strict one on login attempts (per e-mail and per client address, against
//! password guessing) and a general one per caller. Kept in memory per process (GCRA from the
//! `governor` crate); each replica limits on its own.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// A keyed limiter; `None` inside means "unlimited".
#[derive(Clone)]
pub struct Limiter<K: Hash + Eq + Clone>(Option<Arc<Keyed<K>>>);

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn per_minute(n: u32) -> Self {
        Self(NonZeroU32::new(n).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))))
    }

    /// `n` per second with a burst of twice that.
    pub fn per_second(n: u32) -> Self {
        Self(NonZeroU32::new(n).map(|n| {
            let burst = n.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            Arc::new(RateLimiter::keyed(Quota::per_second(n).allow_burst(burst)))
        }))
    }

    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// Drops idle keys; called periodically so the map does not grow without bound.
    pub fn prune(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let limiter = Limiter::per_minute(2);
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        assert!(matches!(limiter.check(&"a"), Err(ApiError::RateLimited { .. })));
        assert!(limiter.check(&"b").is_ok());
        let off = Limiter::per_minute(0);
        for _ in 0..100 {
            assert!(off.check(&"a").is_ok());
        }
    }
}
