//! Rows of `followups`: the queue of what a human (or later automation) should look at.

use super::{internal, opt_text, text};
use crate::error::ApiError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// A follow-up about to be written.
#[derive(Debug, Clone)]
pub struct NewFollowup<'a> {
    pub order_id: &'a str,
    pub task_uuid: Option<&'a str>,
    /// `blocked`, `warning`, `auto-fix-applied`, ...
    pub kind: &'a str,
    /// 1 (highest) to 5.
    pub impact_level: u8,
    /// `open`, `fixed`, ...
    pub status: &'a str,
    pub note: &'a str,
    /// An issue or pull request URL.
    pub github_issue_id: Option<&'a str>,
    /// JSON.
    pub data: String,
}

const INSERT: &str = "INSERT INTO followups \
     (order_id, task_uuid, type, impact_level, status, note, github_issue_id, data) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id";

const FIND_OPEN: &str = "SELECT id, github_issue_id FROM followups \
     WHERE task_uuid = ?1 AND type = ?2 AND status = 'open' ORDER BY id DESC LIMIT 1";

const ATTACH_ISSUE: &str =
    "UPDATE followups SET github_issue_id = ?2 WHERE id = ?1 AND github_issue_id IS NULL";

#[derive(Debug, Clone, Deserialize)]
pub struct FollowupRef {
    pub id: i64,
    pub github_issue_id: Option<String>,
}

/// The insert, `RETURNING id`, for the batch of the change it records.
pub fn insert_statement(
    db: &D1Database,
    followup: &NewFollowup,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(INSERT).bind(&[
        text(followup.order_id),
        opt_text(followup.task_uuid),
        text(followup.kind),
        JsValue::from_f64(f64::from(followup.impact_level)),
        text(followup.status),
        text(followup.note),
        opt_text(followup.github_issue_id),
        text(&followup.data),
    ])
}

/// The newest open follow-up of `kind` for a task, so a repeated report reuses it.
pub async fn find_open(
    db: &D1Database,
    task_uuid: &str,
    kind: &str,
) -> Result<Option<FollowupRef>, ApiError> {
    db.prepare(FIND_OPEN)
        .bind(&[text(task_uuid), text(kind)])
        .map_err(internal("binding follow-up lookup"))?
        .first::<FollowupRef>(None)
        .await
        .map_err(internal("reading follow-ups"))
}

/// Records an issue URL on a follow-up that has none yet.
pub fn attach_issue_statement(
    db: &D1Database,
    id: i64,
    url: &str,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(ATTACH_ISSUE)
        .bind(&[JsValue::from_f64(id as f64), text(url)])
}
