//! Users and credentials: the first administrator, passwords (argon2id), bearer tokens.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Caller, Engine, Result, ServiceError};

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

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A real hash of nothing, to spend a real check's time on an unknown user name.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

/// A fresh random secret and the hash under which it is stored.
fn new_secret() -> (String, Vec<u8>) {
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
        let any: Option<i32> = sqlx::query_scalar("select 1 from app_user limit 1")
            .fetch_optional(&mut *tx)
            .await?;
        if any.is_some() {
            return Ok(AdminBootstrap::Existing);
        }
        let hash = hash_password(password)?;
        sqlx::query("insert into app_user (id, username, password_hash) values ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(local_name(username))
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AdminBootstrap::Created)
    }

    /// Check a user name and password; the same refusal for an unknown user and a wrong password.
    pub async fn verify_credentials(&self, username: &str, password: &str) -> Result<Caller> {
        let row: Option<(Uuid, String, String, bool)> = sqlx::query_as(
            "select id, username, password_hash, disabled from app_user where username = $1",
        )
        .bind(local_name(username))
        .fetch_optional(&self.pool)
        .await?;
        let refused = || ServiceError::Unauthorized("the user name or password is wrong".into());
        match row {
            Some((id, name, hash, disabled)) => {
                let hash_ok = tokio::task::spawn_blocking({
                    let password = password.to_owned();
                    move || verify_password(&password, &hash)
                })
                .await
                .map_err(|e| ServiceError::Internal(format!("verify task failed: {e}")))?;
                if hash_ok && !disabled {
                    Ok(Caller {
                        user_id: id,
                        username: name,
                    })
                } else {
                    Err(refused())
                }
            }
            None => {
                // Spend the same time as a real check, so timing does not tell who exists.
                let _ = tokio::task::spawn_blocking(|| verify_password("x", dummy_hash())).await;
                Err(refused())
            }
        }
    }

    /// A short-lived bearer token for `caller`.
    pub async fn issue_bearer_token(
        &self,
        caller: &Caller,
        lifetime: Duration,
    ) -> Result<IssuedToken> {
        let (secret, hash) = new_secret();
        let expires_at: DateTime<Utc> = sqlx::query_scalar(
            "insert into access_token (id, token_hash, user_id, kind, expires_at)
             values ($1, $2, $3, 'bearer', now() + make_interval(secs => $4)) returning expires_at",
        )
        .bind(Uuid::now_v7())
        .bind(hash)
        .bind(caller.user_id)
        .bind(lifetime.num_seconds() as f64)
        .fetch_one(&self.pool)
        .await?;
        Ok(IssuedToken {
            access_token: secret,
            expires_at,
        })
    }

    /// Who holds this token, if it is valid now.
    pub async fn authenticate_token(&self, token: &str) -> Result<Caller> {
        let hash = Sha256::digest(token.as_bytes()).to_vec();
        let row: Option<(Uuid, String)> = sqlx::query_as(
            "select u.id, u.username from access_token t join app_user u on u.id = t.user_id
              where t.token_hash = $1 and t.revoked_at is null
                and (t.expires_at is null or t.expires_at > now()) and not u.disabled",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(user_id, username)| Caller { user_id, username })
            .ok_or_else(|| {
                ServiceError::Unauthorized("the token is unknown, expired or revoked".into())
            })
    }
}
