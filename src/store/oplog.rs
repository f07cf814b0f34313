//! Rows of `operation_logs`: the append-only record of everything anyone did.

use super::page::{json_or_text, Listing};
use super::Db;
use super::{internal, opt_text, text};
use crate::domain::oplog::{LogLevel, LogQuery, NewLogEntry};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;
use worker::D1PreparedStatement;

const INSERT: &str =
    "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

#[derive(Debug, Clone)]
pub struct LogEntry<'a> {
    pub source: &'a str,
    pub operation: &'a str,
    pub level: LogLevel,
    pub order_id: Option<&'a str>,
    pub task_uuid: Option<&'a str>,
    pub details: Value,
}

impl<'a> LogEntry<'a> {
    /// An `info` entry written by the orchestrator itself.
    pub fn orchestrator(operation: &'a str, details: Value) -> Self {
        Self {
            source: "orchestrator",
            operation,
            level: LogLevel::Info,
            order_id: None,
            task_uuid: None,
            details,
        }
    }

    pub fn order(mut self, order_id: &'a str) -> Self {
        self.order_id = Some(order_id);
        self
    }

    pub fn task(mut self, task_uuid: &'a str) -> Self {
        self.task_uuid = Some(task_uuid);
        self
    }

    pub fn level(mut self, level: LogLevel) -> Self {
        self.level = level;
        self
    }

    pub fn source(mut self, source: &'a str) -> Self {
        self.source = source;
        self
    }
}

/// The insert as a statement, so callers can put it in the batch of the change it records.
pub fn insert_statement(db: &Db, entry: &LogEntry) -> worker::Result<D1PreparedStatement> {
    db.prepare(INSERT).bind(&[
        text(entry.source),
        opt_text(entry.order_id),
        opt_text(entry.task_uuid),
        text(entry.operation),
        text(entry.level.as_str()),
        text(&entry.details.to_string()),
    ])
}

/// Appends an entry posted by a client and returns its id.
pub async fn append(db: &Db, entry: &NewLogEntry) -> Result<i64, ApiError> {
    #[derive(Deserialize)]
    struct Id {
        id: i64,
    }
    db.prepare(format!("{INSERT} RETURNING id"))
        .bind(&[
            text(&entry.source),
            opt_text(entry.order_id.as_deref()),
            opt_text(entry.task_uuid.as_deref()),
            text(&entry.operation),
            text(entry.level.as_str()),
            text(&entry.details),
        ])
        .map_err(internal("binding log entry"))?
        .first::<Id>(None)
        .await
        .map_err(internal("writing log entry"))?
        .map(|row| row.id)
        .ok_or(ApiError::Internal("log insert returned no id"))
}

/// A page of entries matching `query`, newest first, as the answer of `GET /api/ops/logs`
/// (`{logs, next_cursor}`), already JSON; `details` shown as JSON where it is JSON.
pub async fn list_json(db: &Db, query: &LogQuery) -> Result<String, ApiError> {
    let row = format!(
        "json_object('id', id, 'ts', ts, 'source', source, 'order_id', order_id, \
         'task_uuid', task_uuid, 'operation', operation, 'level', level, 'details', {})",
        json_or_text("details")
    );
    let mut listing = Listing::new("operation_logs", &row);
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
