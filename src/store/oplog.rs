//! Rows of `operation_logs`: the append-only record of everything anyone did.

use super::{opt_text, text};
use serde_json::Value;
use worker::{D1Database, D1PreparedStatement};

const INSERT: &str =
    "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

#[derive(Debug, Clone)]
pub struct LogEntry<'a> {
    pub source: &'a str,
    pub operation: &'a str,
    pub level: &'a str,
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
            level: "info",
            order_id: None,
            task_uuid: None,
            details,
        }
    }

    pub fn order(mut self, order_id: &'a str) -> Self {
        self.order_id = Some(order_id);
        self
    }
}

/// The insert as a statement, so callers can put it in the batch of the change it records.
pub fn insert_statement(db: &D1Database, entry: &LogEntry) -> worker::Result<D1PreparedStatement> {
    db.prepare(INSERT).bind(&[
        text(entry.source),
        opt_text(entry.order_id),
        opt_text(entry.task_uuid),
        text(entry.operation),
        text(entry.level),
        text(&entry.details.to_string()),
    ])
}
