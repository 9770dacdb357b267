//! Callers recently resolved, so that a client sending many requests with the same access
//! token or API key does not pay a database look-up on each one. Under the order benchmark on
//! PostgreSQL that look-up was one round trip in ten.
//!
//! Freshness: this process forgets everything ([`KnownCallers::forget_all`]) after it commits
//! anything that can end a session or change what a caller may do (logout, password change or
//! reset, a replayed refresh token, a user or role changed, an API key revoked), so within the
//! process those take effect at once, as before. Changes made elsewhere (another replica, the
//! `bodega admin` command) are seen within [`FRESH_FOR`]; a session or key that reaches its
//! expiry is refused from that moment, as each entry keeps the expiry it was read with.
//!
//! A look-up that raced with a forget cannot bring old rights back: each entry is tagged with
//! the generation current *before* its database read, and only entries of the current
//! generation are used.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::caller::Caller;

/// How long a resolved caller is trusted without asking the database again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries kept at most; past it the cache starts over (clients with that many distinct live
/// credentials within a second are not the case this serves).
const CAPACITY: usize = 8_192;

#[derive(Default)]
pub struct KnownCallers {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Known>>,
}

struct Known {
    generation: u64,
    resolved_at: Instant,
    expires_at: Option<DateTime<Utc>>,
    caller: Caller,
}

/// Taken before a database look-up; gives the look-up's result to [`KnownCallers::remember`].
#[derive(Clone, Copy)]
pub struct Generation(u64);

impl KnownCallers {
    /// The caller behind `credential` if resolved within [`FRESH_FOR`] and nothing was forgotten
    /// since.
    pub fn get(&self, credential: &str) -> Option<Caller> {
        let current = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(credential)
            .filter(|k| {
                k.generation == current
                    && k.resolved_at.elapsed() < FRESH_FOR
                    && k.expires_at.is_none_or(|at| at > bodega_store::now())
            })
            .map(|k| k.caller.clone())
    }

    /// The generation to tag a look-up that starts now.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `caller` for `credential` (a session or key valid until `expires_at`).
    pub fn remember(
        &self,
        credential: &str,
        generation: Generation,
        caller: &Caller,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if generation.0 != self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(credential) {
            entries.clear();
        }
        entries.insert(
            credential.to_owned(),
            Known {
                generation: generation.0,
                resolved_at: Instant::now(),
                expires_at,
                caller: caller.clone(),
            },
        );
    }

    /// Forgets every caller; call it after committing a change to sessions, users, roles or
    /// API keys.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::caller::Identity;
    use bodega_domain::PermissionSet;
    use bodega_store::audit::Actor;

    fn caller(id: i64) -> Caller {
        Caller {
            identity: Identity::ApiKey {
                key_id: id,
                name: format!("key {id}"),
            },
            permissions: PermissionSet::default(),
            actor: Actor {
                kind: "api_key",
                id: Some(id),
                label: format!("api key {id}"),
                request_id: None,
                ip: None,
            },
        }
    }

    fn key_id(c: &Caller) -> i64 {
        match c.identity {
            Identity::ApiKey { key_id, .. } => key_id,
            Identity::User { user_id, .. } => user_id,
        }
    }

    #[test]
    fn a_remembered_caller_is_found_until_forgotten() {
        let known = KnownCallers::default();
        assert!(known.get("a").is_none());
        let generation = known.generation();
        known.remember("a", generation, &caller(7), None);
        assert_eq!(known.get("a").map(|c| key_id(&c)), Some(7));
        assert!(known.get("b").is_none());
        known.forget_all();
        assert!(known.get("a").is_none());
    }

    #[test]
    fn an_expired_credential_is_not_used() {
        let known = KnownCallers::default();
        let generation = known.generation();
        let past = bodega_store::now() - chrono::TimeDelta::seconds(1);
        known.remember("a", generation, &caller(7), Some(past));
        assert!(known.get("a").is_none());
        let later = bodega_store::now() + chrono::TimeDelta::hours(1);
        known.remember("b", generation, &caller(8), Some(later));
        assert!(known.get("b").is_some());
    }

    #[test]
    fn a_look_up_that_raced_with_a_forget_is_not_remembered() {
        let known = KnownCallers::default();
        let before_the_read = known.generation();
        // The session is revoked (and everything forgotten) while the read is in flight.
        known.forget_all();
        known.remember("a", before_the_read, &caller(7), None);
        assert!(known.get("a").is_none());
    }
}
