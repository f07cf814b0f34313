//! Rows of `operation_logs`: the append-only record of everything anyone did.

use super::json_or_text;
use super::page::Listing;
use super::Db;
use super::{internal, opt_text, text};
use crate::domain::oplog::{LogEntry, LogLevel, LogQuery};
use crate::error::ApiError;
use crate::json_text::JsonText;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

const INSERT: &str =
    "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// `INSERT`'s parameters, in its order.
fn params(entry: &LogEntry) -> [JsValue; 6] {
    [
        text(entry.source),
        opt_text(entry.order_id),
        opt_text(entry.task_uuid),
        text(entry.operation),
        text(entry.level.as_str()),
        text(&entry.details.to_string()),
    ]
}

/// The insert as a statement, so callers can put it in the batch of the change it records.
pub fn insert_statement(db: &Db, entry: &LogEntry) -> worker::Result<D1PreparedStatement> {
    db.prepare(INSERT).bind(&params(entry))
}

/// Appends an entry on its own (one posted by a client) and returns its id.
pub async fn append(db: &Db, entry: &LogEntry<'_>) -> Result<i64, ApiError> {
    #[derive(Deserialize)]
    struct Id {
        id: i64,
    }
    db.prepare(format!("{INSERT} RETURNING id"))
        .bind(&params(entry))
        .map_err(internal("binding log entry"))?
        .first::<Id>(None)
        .await
        .map_err(internal("writing log entry"))?
        .map(|row| row.id)
        .ok_or(ApiError::Internal("log insert returned no id"))
}

/// A page of entries matching `query`, newest first, as the answer of `GET /api/ops/logs`
/// (`{logs, next_cursor}`), already JSON; `details` shown as JSON where it is JSON.
pub async fn list_json(db: &Db, query: &LogQuery) -> Result<JsonText, ApiError> {
    const ROW: &str = concat!(
        "json_object('id', id, 'ts', ts, 'source', source, 'order_id', order_id, ",
        "'task_uuid', task_uuid, 'operation', operation, 'level', level, 'details', ",
        json_or_text!("details"),
        ")"
    );
    let mut listing = Listing::new("operation_logs", ROW);
    listing
        .filter("order_id", "=", query.order_id.as_deref())
        .filter("task_uuid", "=", query.task_uuid.as_deref())
        .filter("source", "=", query.source.as_deref())
        .filter("ts", ">=", query.since.as_deref());
    if let Some(level) = query.min_level {
        let levels: Vec<&'static str> = level.and_above().map(LogLevel::as_str).collect();
        listing.one_of("level", &levels);
    }
    listing
        .page_json(db, query.page, "logs", "reading operation log")
        .await
}
