//! Stored first answers of requests that carried an `Idempotency-Key`.

use super::{internal, text};
use crate::error::ApiError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// How long a key is remembered. Clients retry within minutes; a day is generous and keeps
/// the table small.
const TTL_SQL: &str = "-1 day";

const FIND: &str = "SELECT request_hash, status, body FROM idempotency_keys \
     WHERE scope = ?1 AND key = ?2 AND created_at >= datetime('now', ?3)";
const FORGET_EXPIRED: &str = "DELETE FROM idempotency_keys \
     WHERE scope = ?1 AND key = ?2 AND created_at < datetime('now', ?3)";
const INSERT: &str = "INSERT INTO idempotency_keys (scope, key, request_hash, status, body) \
     VALUES (?1, ?2, ?3, ?4, ?5)";

#[derive(Debug, Clone, Deserialize)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

pub async fn find(
    db: &D1Database,
    scope: &str,
    key: &str,
) -> Result<Option<StoredAnswer>, ApiError> {
    db.prepare(FIND)
        .bind(&[text(scope), text(key), text(TTL_SQL)])
        .map_err(internal("binding idempotency lookup"))?
        .first::<StoredAnswer>(None)
        .await
        .map_err(internal("reading idempotency key"))
}

/// The statements that record an answer; they go in the batch of the work they answer for, so
/// the key exists exactly when the work does. An expired row for the same key is dropped first.
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
