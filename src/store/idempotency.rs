//! Stored first answers of requests that carried an `Idempotency-Key`.

use super::{internal, text};
use crate::domain::idempotency::{classify, Prior, IN_PROGRESS};
use crate::error::ApiError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// How long a key is remembered. Clients retry within minutes; a day is generous and keeps
/// the table small.
const TTL_SQL: &str = "-1 day";

/// A stale claim (see [`claim_statements`]) counts as absent, so its retry takes the work
/// over; rows whose work is done never have status 0.
const FIND: &str = "SELECT request_hash, status, body FROM idempotency_keys \
     WHERE scope = ?1 AND key = ?2 AND created_at >= datetime('now', ?3) \
     AND NOT (status = 0 AND created_at < datetime('now', ?4))";
const FORGET_EXPIRED: &str = "DELETE FROM idempotency_keys \
     WHERE scope = ?1 AND key = ?2 AND created_at < datetime('now', ?3)";
const INSERT: &str = "INSERT INTO idempotency_keys (scope, key, request_hash, status, body) \
     VALUES (?1, ?2, ?3, ?4, ?5)";

#[derive(Debug, Clone, Deserialize)]
struct StoredAnswer {
    request_hash: String,
    status: u16,
    body: String,
}

async fn find(db: &D1Database, scope: &str, key: &str) -> Result<Option<StoredAnswer>, ApiError> {
    db.prepare(FIND)
        .bind(&[text(scope), text(key), text(TTL_SQL), text(STALE_CLAIM_SQL)])
        .map_err(internal("binding idempotency lookup"))?
        .first::<StoredAnswer>(None)
        .await
        .map_err(internal("reading idempotency key"))
}

/// The statements that record an answer; they go in the batch of the work they answer for, so
/// the key exists exactly when the work does. An expired row for the same key is dropped first.
/// What an earlier request with `key` left (see [`Prior`]).
pub async fn begin(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<Prior, ApiError> {
    let stored = find(db, scope, key).await?;
    Ok(classify(
        stored
            .as_ref()
            .map(|s| (s.request_hash.as_str(), s.status, s.body.as_str())),
        request_hash,
    ))
}

pub fn record_statements(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
    status: u16,
    body: &str,
) -> worker::Result<[D1PreparedStatement; 2]> {
    Ok([
        db.prepare(FORGET_EXPIRED)
            .bind(&[text(scope), text(key), text(TTL_SQL)])?,
        db.prepare(INSERT).bind(&[
            text(scope),
            text(key),
            text(request_hash),
            JsValue::from_f64(f64::from(status)),
            text(body),
        ])?,
    ])
}

/// A claim older than this belongs to a request that died (a Worker request cannot run this
/// long), and a retry may take the work over.
const STALE_CLAIM_SQL: &str = "-10 minutes";
const FORGET_STALE_CLAIM: &str = "DELETE FROM idempotency_keys \
     WHERE scope = ?1 AND key = ?2 AND status = 0 AND created_at < datetime('now', ?3)";
const COMPLETE: &str = "UPDATE idempotency_keys SET status = ?4, body = ?5 \
     WHERE scope = ?1 AND key = ?2 AND request_hash = ?3";

/// The statements that claim `key` for work about to start: they go in the batch that records
/// the request, so exactly one request wins the claim (the others hit the primary key).
pub fn claim_statements(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> worker::Result<[D1PreparedStatement; 3]> {
    let [forget_expired, insert] =
        record_statements(db, scope, key, request_hash, IN_PROGRESS, "")?;
    Ok([
        forget_expired,
        db.prepare(FORGET_STALE_CLAIM)
            .bind(&[text(scope), text(key), text(STALE_CLAIM_SQL)])?,
        insert,
    ])
}

const RELEASE: &str =
    "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND request_hash = ?3";

/// Gives up a claim without an answer to replay, so the next request with the key does the
/// work (again).
pub async fn release(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<(), ApiError> {
    db.prepare(RELEASE)
        .bind(&[text(scope), text(key), text(request_hash)])
        .map_err(internal("binding idempotency release"))?
        .run()
        .await
        .map_err(internal("releasing idempotency key"))
        .map(drop)
}

/// Stores the answer of claimed work, which later retries replay.
pub async fn complete(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
    status: u16,
    body: &str,
) -> Result<(), ApiError> {
    db.prepare(COMPLETE)
        .bind(&[
            text(scope),
            text(key),
            text(request_hash),
            JsValue::from_f64(f64::from(status)),
            text(body),
        ])
        .map_err(internal("binding idempotency answer"))?
        .run()
        .await
        .map_err(internal("storing idempotency answer"))
        .map(drop)
}
