//! Recently checked tokens, so that a plug-in's stream of requests does not look its token up in
//! the database for every request. An entry lives at most [`TTL`] (and never past the token's
//! expiry); HTTP Basic credentials, whose check costs a password hash, [`BASIC_TTL`]. Every change
//! to credentials or roles made through this process empties the cache at once; one made by
//! another server process on the same database takes effect within [`TTL`] (for Basic
//! credentials, [`BASIC_TTL`]). Such a change is also announced to whoever holds a credential for
//! long ([`AuthCache::changes`]): an open event stream checks its own again at once.

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
    /// Announces the changes to credentials or roles made through this process.
    changed: Announcer,
}

/// A change to credentials, users or roles, as announced to those holding a credential for long.
#[derive(Clone, Debug)]
enum Change {
    /// One token or session was revoked (a sign-out): the SHA-256 of its secret.
    Secret(std::sync::Arc<[u8]>),
    /// Anything else (a user disabled, roles changed, an API token revoked): anyone may be concerned.
    Anyone,
}

#[derive(Debug)]
struct Announcer(tokio::sync::broadcast::Sender<Change>);

impl Default for Announcer {
    fn default() -> Announcer {
        Announcer(tokio::sync::broadcast::channel(CHANGES_KEPT).0)
    }
}

/// Changes kept for a listener that has not looked yet; one that falls further behind takes itself
/// to be concerned.
const CHANGES_KEPT: usize = 64;

/// Wakes the holder of one credential after each change that may concern it.
#[derive(Debug)]
pub struct CredentialChanges {
    changes: tokio::sync::broadcast::Receiver<Change>,
    secret_hash: Vec<u8>,
}

impl CredentialChanges {
    /// Returns after the next change made through this process that may concern this credential
    /// (another token's sign-out does not); never if the process is stopping. Cancel-safe.
    pub async fn next(&mut self) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.changes.recv().await {
                Ok(Change::Secret(hash)) if *hash != *self.secret_hash => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending().await,
            }
        }
    }
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

    /// Forget everything: credentials, roles or users changed. Announced to anyone listening
    /// ([`AuthCache::changes`]).
    pub(super) fn clear(&self) {
        self.forget_all();
        let _ = self.changed.0.send(Change::Anyone);
    }

    /// Forget everything: the token or session with this secret hash was revoked. Announced to its
    /// holder only.
    pub(super) fn clear_for_revoked(&self, secret_hash: &[u8]) {
        self.forget_all();
        let _ = self.changed.0.send(Change::Secret(secret_hash.into()));
    }

    fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// What the holder of the credential with this secret hash should listen to.
    pub(super) fn changes(&self, secret_hash: Vec<u8>) -> CredentialChanges {
        CredentialChanges {
            changes: self.changed.0.subscribe(),
            secret_hash,
        }
    }
}
