//! `Idempotency-Key`: the first response to a creating request is stored in the same transaction as
//! what it created, and replayed to the same caller for 24 hours.
//!
//! Claiming a key is an `insert .. on conflict`: a second request with the same key waits for the
//! first one's transaction, then sees its committed response — so two racing retries create one thing.

use serde::{de::DeserializeOwned, Serialize};
use sqlx::{Postgres, Transaction};

use super::{Caller, Result, ServiceError};
use crate::domain::limits::{IDEMPOTENCY_WINDOW_HOURS, MAX_IDEMPOTENCY_KEY_CHARS};

/// A validated key with a fingerprint of the request it came with.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    key: String,
    fingerprint: Vec<u8>,
}

impl IdempotencyKey {
    /// `fingerprint` identifies the request (e.g. a hash of method, path and body).
    pub fn parse(key: &str, fingerprint: Vec<u8>) -> Result<IdempotencyKey> {
        let ok = !key.is_empty()
            && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"),
            ));
        }
        Ok(IdempotencyKey {
            key: key.to_owned(),
            fingerprint,
        })
    }
}

/// The outcome of claiming a key.
pub enum Claim<T> {
    /// The key is ours: do the work, then [`record`].
    Fresh,
    /// Seen before: the original response.
    Replay(T),
}

pub async fn claim<T: DeserializeOwned>(
    tx: &mut Transaction<'_, Postgres>,
    caller: &Caller,
    key: &IdempotencyKey,
) -> Result<Claim<T>> {
    let fresh: Option<bool> = sqlx::query_scalar(
        "insert into idempotency_key (owner, key, fingerprint) values ($1, $2, $3)
         on conflict (owner, key) do update
            set fingerprint = excluded.fingerprint, response = null, created_at = now()
          where idempotency_key.created_at < now() - make_interval(hours => $4)
         returning true",
    )
    .bind(caller.user_id)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(IDEMPOTENCY_WINDOW_HOURS as i32)
    .fetch_optional(&mut **tx)
    .await?;
    if fresh.is_some() {
        return Ok(Claim::Fresh);
    }
    let (fingerprint, response): (Vec<u8>, Option<serde_json::Value>) = sqlx::query_as(
        "select fingerprint, response from idempotency_key where owner = $1 and key = $2",
    )
    .bind(caller.user_id)
    .bind(&key.key)
    .fetch_one(&mut **tx)
    .await?;
    if fingerprint != key.fingerprint {
        return Err(ServiceError::IdempotencyMismatch(
            "this Idempotency-Key was already used with a different request".into(),
        ));
    }
    let response = response
        .ok_or_else(|| ServiceError::Internal("idempotency key without a response".into()))?;
    serde_json::from_value(response)
        .map(Claim::Replay)
        .map_err(|e| ServiceError::Internal(format!("stored response unreadable: {e}")))
}

pub async fn record<T: Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    caller: &Caller,
    key: &IdempotencyKey,
    response: &T,
) -> Result<()> {
    let value = serde_json::to_value(response)
        .map_err(|e| ServiceError::Internal(format!("response not serialisable: {e}")))?;
    sqlx::query("update idempotency_key set response = $3 where owner = $1 and key = $2")
        .bind(caller.user_id)
        .bind(&key.key)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
