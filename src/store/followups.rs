//! Rows of `followups`: the queue of what a human (or later automation) should look at.

use super::page::{json_or_text, Listing};
use super::{internal, opt_text, text};
use crate::domain::followup_query::FollowupQuery;
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

/// A follow-up as `GET /api/followups` shows it: `data` parsed back into JSON.
#[derive(Debug, serde::Serialize)]
pub struct FollowupView {
    pub id: i64,
    pub ts: Option<String>,
    pub order_id: String,
    pub task_uuid: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub impact_level: i64,
    pub status: String,
    pub note: Option<String>,
    pub github_issue_id: Option<String>,
    pub data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FollowupRow {
    id: i64,
    ts: Option<String>,
    order_id: String,
    task_uuid: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    impact_level: i64,
    status: String,
    note: Option<String>,
    github_issue_id: Option<String>,
    data: Option<String>,
}

/// A page of follow-ups matching `query`, newest first; the cursor is the last id shown.
pub async fn list(
    db: &D1Database,
    query: &FollowupQuery,
) -> Result<(Vec<FollowupView>, Option<i64>), ApiError> {
    let mut listing = Listing::new(
        "SELECT id, ts, order_id, task_uuid, type, impact_level, status, note, github_issue_id, \
         data FROM followups",
    );
    listing
        .filter("order_id", "=", query.order_id.as_deref())
        .filter("task_uuid", "=", query.task_uuid.as_deref())
        .filter("type", "=", query.kind)
        .filter("status", "=", query.status);
    let (rows, next) = listing
        .fetch(db, query.page, |r: &FollowupRow| r.id, "reading follow-ups")
        .await?;
    let views = rows
        .into_iter()
        .map(|r| FollowupView {
            id: r.id,
            ts: r.ts,
            order_id: r.order_id,
            task_uuid: r.task_uuid,
            kind: r.kind,
            impact_level: r.impact_level,
            status: r.status,
            note: r.note,
            github_issue_id: r.github_issue_id,
            data: r.data.map(json_or_text),
        })
        .collect();
    Ok((views, next))
}

/// Marks a task's open `blocked` follow-ups fixed (its problem was remediated since).
pub fn resolve_blocked_statement(
    db: &D1Database,
    task_uuid: &str,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "UPDATE followups SET status = 'fixed' \
         WHERE task_uuid = ?1 AND type = 'blocked' AND status = 'open'",
    )
    .bind(&[text(task_uuid)])
}
