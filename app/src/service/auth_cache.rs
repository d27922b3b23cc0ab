//! Recently checked tokens, so that a plug-in's stream of requests does not look its token up in
//! the database for every request. An entry lives at most [`TTL`] (and never past the token's
//! expiry); HTTP Basic credentials, whose check costs a password hash, [`BASIC_TTL`]. Every change
//! to credentials or roles made through this process empties the cache at once; one made by
//! another server process on the same database takes effect within [`TTL`] (for Basic
//! credentials, [`BASIC_TTL`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Caller;

/// How long a checked token is believed without asking the database again.
pub const TTL: Duration = Duration::from_secs(1);
/// How long HTTP Basic credentials, once checked, are believed (`Engine::authenticate_basic`):
/// long enough that a script's requests do not each hash a password, short enough that a change
/// made by another server process takes effect soon.
pub const BASIC_TTL: Duration = Duration::from_secs(60);
/// Entries kept at most; beyond it the cache starts over (a flood of distinct tokens).
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct AuthCache {
    entries: Mutex<HashMap<Vec<u8>, (Caller, Instant)>>,
}

impl AuthCache {
    pub(super) fn get(&self, token_hash: &[u8]) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(token_hash) {
            Some((caller, until)) if Instant::now() < *until => Some(caller.clone()),
            _ => None,
        }
    }

    /// Believe `caller` holds the token until `until` (capped at [`TTL`] from now).
    pub(super) fn put(&self, token_hash: Vec<u8>, caller: Caller, valid_for: Option<Duration>) {
        let ttl = valid_for.map_or(TTL, |v| v.min(TTL));
        self.put_for(token_hash, caller, ttl);
    }

    /// Believe `caller` holds the credentials with this hash for `ttl`.
    pub(super) fn put_for(&self, token_hash: Vec<u8>, caller: Caller, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token_hash, (caller, Instant::now() + ttl));
    }

    /// Forget everything: credentials, roles or users changed.
    pub(super) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
