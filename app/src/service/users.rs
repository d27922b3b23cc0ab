//! Users and credentials: the first administrator, passwords (argon2id), bearer tokens.

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, Origin, Record};
use super::auth_cache;
use super::{Caller, Engine, Result, ServiceError};
use crate::domain::ActionGroup;

/// Failed sign-ins are counted over this window...
const THROTTLE_WINDOW_MINUTES: i32 = 15;
/// ...and refused beyond this many per user name...
const MAX_FAILURES_PER_USER: i64 = 5;
/// ...or this many per address.
const MAX_FAILURES_PER_ADDRESS: i64 = 20;

/// A user's action groups, through their roles (`u` is the user).
pub(super) const GROUPS_OF_USER: &str = "array(select distinct g.action_group
       from user_role ur join role_action_group g on g.role_name = ur.role_name
      where ur.user_id = u.id order by 1) as groups";

pub(super) fn parse_groups(raw: &[String]) -> Vec<ActionGroup> {
    raw.iter().filter_map(|g| ActionGroup::parse(g)).collect()
}

/// A token's holder: user id, user name, action groups, the token's expiry.
type TokenHolder = (Uuid, String, Vec<String>, Option<DateTime<Utc>>);

/// oVirt names local users `name@internal`; Stepwise's users are all local.
pub fn local_name(username: &str) -> &str {
    username.strip_suffix("@internal").unwrap_or(username)
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

/// A piece of password work for the hashing threads.
type HashWork = Box<dyn FnOnce() + Send>;

/// Run a password hash or check (Argon2: about 19 MiB and tens of milliseconds each) on one of a
/// fixed set of threads, one per core; callers wait their turn without holding a thread. On the
/// blocking pool, 200 sign-ins at once took the server from 11 MB to 2.5 GB (each thread its own
/// allocator arena, each keeping its 19 MiB); bounded by a semaphore, still to 350 MB, since the pool
/// kept starting new threads.
pub(super) async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<HashWork>> =
        std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel::<HashWork>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hashing-{i}"))
                .spawn(move || loop {
                    let next = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(work) => work(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        sender
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    queue
        .send(Box::new(move || {
            let _ = reply.send(work());
        }))
        .map_err(|_| ServiceError::Internal("password hashing has stopped".into()))?;
    answer
        .await
        .map_err(|_| ServiceError::Internal("password hashing failed".into()))
}

thread_local! {
    /// A hashing thread's Argon2 memory (19 MiB with the default parameters): allocated once and
    /// reused, where the crate's own check allocates it afresh each time and the allocator keeps it.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` is the one `hash` (a PHC string) was made from: the check `PasswordVerifier`
/// makes (the same parameters, a constant-time comparison), computed in this thread's memory.
fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = ARGON2_MEMORY.with_borrow_mut(|memory| {
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon.hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
    });
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// A real hash of nothing, to spend a real check's time on an unknown user name.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

/// A fresh random secret and the hash under which it is stored.
pub(super) fn new_secret() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    (secret, hash)
}

/// A random password for a first administrator nobody named one for.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token handed out by the token endpoint.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The answer of [`Engine::ensure_admin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// Users exist already; nothing was done.
    Existing,
    /// The administrator was created.
    Created,
}

impl Engine {
    /// Create the first administrator when there are no users at all. Safe to race: one process wins.
    pub async fn ensure_admin(&self, username: &str, password: &str) -> Result<AdminBootstrap> {
        let mut tx = self.pool.begin().await?;
        // Serialise concurrent first starts of several processes.
        sqlx::query("select pg_advisory_xact_lock(7203461001)")
            .execute(&mut *tx)
            .await?;
        // The engine's own user (which cannot sign in) does not count.
        let any: Option<i32> = sqlx::query_scalar("select 1 from app_user where id <> $1 limit 1")
            .bind(super::commands::ENGINE_USER)
            .fetch_optional(&mut *tx)
            .await?;
        if any.is_some() {
            return Ok(AdminBootstrap::Existing);
        }
        let hash = hash_password(password)?;
        let id = Uuid::now_v7();
        sqlx::query("insert into app_user (id, username, password_hash) values ($1, $2, $3)")
            .bind(id)
            .bind(local_name(username))
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("insert into user_role (user_id, role_name) values ($1, 'SuperUser')")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AdminBootstrap::Created)
    }

    /// Sign in with a user name and password: throttled per user name and per address, audited, and
    /// the same refusal for an unknown user and a wrong password.
    pub async fn sign_in(&self, username: &str, password: &str, origin: &Origin) -> Result<Caller> {
        // A NUL cannot be stored (nor be in any user's name): such a name is simply unknown, and is
        // throttled and audited like any other.
        let name = local_name(username).replace('\0', "\u{FFFD}");
        let name = name.as_str();
        let (by_user, by_address): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where target = $1), count(*) filter (where address = $2)
               from audit_event
              where action = 'sign_in' and not success and at > now() - make_interval(mins => $3)
                and (target = $1 or address = $2)",
        )
        .bind(name)
        .bind(origin.address.as_deref())
        .bind(THROTTLE_WINDOW_MINUTES)
        .fetch_one(&self.pool)
        .await?;
        if by_user >= MAX_FAILURES_PER_USER || by_address >= MAX_FAILURES_PER_ADDRESS {
            return Err(ServiceError::TooManyRequests(format!(
                "too many failed sign-ins; try again in {THROTTLE_WINDOW_MINUTES} minutes"
            )));
        }
        let row: Option<(Uuid, String, bool)> =
            sqlx::query_as("select id, password_hash, disabled from app_user where username = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        let (user_id, hash, disabled) = match row {
            Some((id, hash, disabled)) => (Some(id), hash, disabled),
            // Spend the same time as a real check, so timing does not tell who exists.
            None => (None, dummy_hash().to_owned(), true),
        };
        let password = password.to_owned();
        let hash_ok = hashing(move || verify_password(&password, &hash)).await?;
        let caller = match user_id {
            Some(id) if hash_ok && !disabled => Some(self.caller(id).await?),
            _ => None,
        };
        audit::write(
            &self.pool,
            origin,
            Record {
                actor: caller.as_ref(),
                action: "sign_in",
                target: Some(name.to_owned()),
                success: caller.is_some(),
                detail: None,
            },
        )
        .await?;
        caller
            .ok_or_else(|| ServiceError::Unauthorized("the user name or password is wrong".into()))
    }

    /// A user as a caller, with the action groups of all their roles.
    pub(super) async fn caller(&self, user_id: Uuid) -> Result<Caller> {
        let row: Option<(Uuid, String, Vec<String>)> = sqlx::query_as(&format!(
            "select u.id, u.username, {GROUPS_OF_USER} from app_user u where u.id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let (user_id, username, groups) =
            row.ok_or_else(|| ServiceError::NotFound(format!("user {user_id} not found")))?;
        Ok(Caller {
            user_id,
            username,
            groups: parse_groups(&groups),
        })
    }

    /// The OAuth 2 password grant (native and oVirt SSO): sign in, then a short-lived bearer token.
    pub async fn password_grant(
        &self,
        username: &str,
        password: &str,
        origin: &Origin,
        lifetime: Duration,
    ) -> Result<IssuedToken> {
        let caller = self.sign_in(username, password, origin).await?;
        self.issue_bearer_token(&caller, lifetime).await
    }

    /// A short-lived bearer token for `caller`.
    pub async fn issue_bearer_token(
        &self,
        caller: &Caller,
        lifetime: Duration,
    ) -> Result<IssuedToken> {
        self.issue_token(caller, "bearer", lifetime).await
    }

    /// A UI session for `caller`: a secret for the cookie.
    pub async fn open_session(&self, caller: &Caller, lifetime: Duration) -> Result<IssuedToken> {
        self.issue_token(caller, "session", lifetime).await
    }

    async fn issue_token(
        &self,
        caller: &Caller,
        kind: &str,
        lifetime: Duration,
    ) -> Result<IssuedToken> {
        let (secret, hash) = new_secret();
        let expires_at: DateTime<Utc> = sqlx::query_scalar(
            "insert into access_token (id, token_hash, user_id, kind, expires_at)
             values ($1, $2, $3, $4, now() + make_interval(secs => $5)) returning expires_at",
        )
        .bind(Uuid::now_v7())
        .bind(hash)
        .bind(caller.user_id)
        .bind(kind)
        .bind(lifetime.num_seconds() as f64)
        .fetch_one(&self.pool)
        .await?;
        Ok(IssuedToken {
            access_token: secret,
            expires_at,
        })
    }

    /// Who holds this token (bearer, API token or UI session), if it is valid now. One query, or
    /// none when the token was checked within the last second (see `auth_cache`).
    pub async fn authenticate_token(&self, token: &str) -> Result<Caller> {
        let hash = Sha256::digest(token.as_bytes()).to_vec();
        if let Some(caller) = self.auth_cache.get(&hash) {
            return Ok(caller);
        }
        let row: Option<TokenHolder> = sqlx::query_as(&format!(
            "select u.id, u.username, {GROUPS_OF_USER}, t.expires_at
                   from access_token t join app_user u on u.id = t.user_id
                  where t.token_hash = $1 and t.revoked_at is null
                    and (t.expires_at is null or t.expires_at > now()) and not u.disabled"
        ))
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((user_id, username, groups, expires_at)) = row else {
            return Err(ServiceError::Unauthorized(
                "the token is unknown, expired or revoked".into(),
            ));
        };
        let caller = Caller {
            user_id,
            username,
            groups: parse_groups(&groups),
        };
        let valid_for = expires_at.map(|t| (t - Utc::now()).to_std().unwrap_or_default());
        self.auth_cache.put(hash, caller.clone(), valid_for);
        Ok(caller)
    }

    /// HTTP Basic credentials (`base64(user:password)`, as `curl -u` sends them to oVirt's API): a
    /// sign-in — throttled and audited as any — that is then believed for
    /// [`auth_cache::BASIC_TTL`], so a script's stream of requests does not pay for a password hash
    /// (and an audit record) each. Failures are never cached.
    pub async fn authenticate_basic(&self, credentials: &str, origin: &Origin) -> Result<Caller> {
        let malformed = || {
            ServiceError::Unauthorized(
                "the Basic credentials are not base64 of user:password".into(),
            )
        };
        let decoded = STANDARD
            .decode(credentials.trim())
            .map_err(|_| malformed())?;
        let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
        let (username, password) = decoded.split_once(':').ok_or_else(malformed)?;
        let key = Sha256::new()
            .chain_update(b"basic\0")
            .chain_update(local_name(username).as_bytes())
            .chain_update(b"\0")
            .chain_update(password.as_bytes())
            .finalize()
            .to_vec();
        if let Some(caller) = self.auth_cache.get(&key) {
            return Ok(caller);
        }
        let caller = self.sign_in(username, password, origin).await?;
        self.auth_cache
            .put_for(key, caller.clone(), auth_cache::BASIC_TTL);
        Ok(caller)
    }

    /// Revoke the token or session with this secret (sign-out). Unknown secrets are ignored.
    pub async fn revoke_secret(&self, token: &str) -> Result<()> {
        let hash = Sha256::digest(token.as_bytes()).to_vec();
        sqlx::query("update access_token set revoked_at = now() where token_hash = $1 and revoked_at is null")
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        self.auth_cache.clear_for_revoked(&hash);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_checks_against_its_own_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        // Hashes made with other parameters (as an older release might have stored) check too.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, Some(24)).unwrap(),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_password("pw", &other));
        assert!(!verify_password("pv", &other));
        // The same check as the crate's own verifier.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
    }
}
