//! Rows of `followups`: the queue of what a human (or later automation) should look at.

use super::page::Listing;
use super::Db;
use super::{int, internal, opt_text, prepare_bound, rows, text};
use super::{json_body, json_or_text};
use crate::domain::followup::{FollowupStatus, FollowupType, GithubKind};
use crate::domain::followup_query::FollowupQuery;
use crate::error::ApiError;
use crate::json_text::JsonText;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

/// A follow-up about to be written.
#[derive(Debug, Clone)]
pub struct NewFollowup<'a> {
    pub order_id: &'a str,
    pub task_uuid: Option<&'a str>,
    pub kind: FollowupType,
    /// 1 (highest) to 5.
    pub impact_level: u8,
    pub status: FollowupStatus,
    pub note: &'a str,
    /// The issue or pull request the follow-up tracks.
    pub github: Option<&'a GithubLink>,
    /// JSON.
    pub data: String,
}

/// A GitHub issue or pull request as a follow-up records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubLink {
    pub kind: GithubKind,
    /// `owner/name`.
    pub repo: String,
    pub number: u64,
    pub url: String,
}

const INSERT: &str = "INSERT INTO followups (order_id, task_uuid, type, impact_level, status, \
       note, github_issue_id, data, github_kind, github_repo, github_number, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, CURRENT_TIMESTAMP)";

#[derive(Debug, Clone, Deserialize)]
pub struct FollowupRef {
    pub id: i64,
    pub github_issue_id: Option<String>,
}

fn insert_params(followup: &NewFollowup) -> Vec<JsValue> {
    let link = followup.github;
    vec![
        text(followup.order_id),
        opt_text(followup.task_uuid),
        text(followup.kind.as_str()),
        JsValue::from_f64(f64::from(followup.impact_level)),
        text(followup.status.as_str()),
        text(followup.note),
        opt_text(link.map(|l| l.url.as_str())),
        text(&followup.data),
        opt_text(link.map(|l| l.kind.as_str())),
        opt_text(link.map(|l| l.repo.as_str())),
        link.map_or(JsValue::NULL, |l| int(l.number as i64)),
    ]
}

/// The insert of a follow-up that is closed from the start (a record of an applied fix),
/// returning its id.
pub fn insert_returning_statement(
    db: &Db,
    followup: &NewFollowup,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(format!("{INSERT} RETURNING id"))
        .bind(&insert_params(followup))
}

/// The statements that make sure an active follow-up of the task's type exists and records
/// `followup.github` if it has no GitHub object yet, then read its id (the last statement
/// returns `{id}`). Concurrent writers converge on one row: the partial unique index turns
/// every insert but the first into nothing.
pub fn ensure_active_statements(
    db: &Db,
    followup: &NewFollowup,
) -> worker::Result<Vec<D1PreparedStatement>> {
    let params = insert_params(followup);
    let active = FollowupStatus::ACTIVE_SQL;
    let attach = format!(
        "UPDATE followups SET github_issue_id = ?7, github_kind = ?9, github_repo = ?10, \
           github_number = ?11, updated_at = CURRENT_TIMESTAMP \
         WHERE task_uuid = ?2 AND type = ?3 AND status IN {active} AND github_number IS NULL \
           AND ?11 IS NOT NULL"
    );
    let read = format!(
        "SELECT id FROM followups WHERE task_uuid = ?2 AND type = ?3 AND status IN {active} \
         ORDER BY id DESC LIMIT 1"
    );
    Ok(vec![
        db.prepare(format!("{INSERT} ON CONFLICT DO NOTHING"))
            .bind(&params)?,
        db.prepare(attach).bind(&params)?,
        prepare_bound(db, &read, &params)?,
    ])
}

/// The newest open follow-up of `kind` for a task, so a repeated report reuses it.
pub async fn find_open(
    db: &Db,
    task_uuid: &str,
    kind: &str,
) -> Result<Option<FollowupRef>, ApiError> {
    db.prepare(format!(
        "SELECT id, github_issue_id FROM followups \
         WHERE task_uuid = ?1 AND type = ?2 AND status IN {} ORDER BY id DESC LIMIT 1",
        FollowupStatus::ACTIVE_SQL
    ))
    .bind(&[text(task_uuid), text(kind)])
    .map_err(internal("binding follow-up lookup"))?
    .first::<FollowupRef>(None)
    .await
    .map_err(internal("reading follow-ups"))
}

/// A follow-up as `GET /api/followups` and `GET /api/followups/:id` show it, as a SQLite JSON
/// object: `data` as JSON where it is JSON, and `github_url`, the web address of the issue or
/// pull request when the follow-up tracks one.
const VIEW_JSON: &str = concat!(
    "json_object('id', id, 'ts', ts, 'order_id', order_id, ",
    "'task_uuid', task_uuid, 'type', type, 'impact_level', impact_level, 'status', status, ",
    "'note', note, 'github_issue_id', github_issue_id, 'github_kind', github_kind, ",
    "'github_number', github_number, 'github_repo', github_repo, ",
    "'github_url', CASE WHEN substr(github_issue_id, 1, 8) = 'https://' THEN github_issue_id END, ",
    "'updated_at', updated_at, 'data', ",
    json_or_text!("data"),
    ")"
);

/// A page of follow-ups matching `query`, newest first, as the answer of `GET /api/followups`
/// (`{followups, next_cursor}`), already JSON.
pub async fn list_json(db: &Db, query: &FollowupQuery) -> Result<JsonText, ApiError> {
    let mut listing = Listing::new("followups", VIEW_JSON);
    listing
        .filter("order_id", "=", query.order_id.as_deref())
        .filter("task_uuid", "=", query.task_uuid.as_deref())
        .filter("type", "=", query.kind.map(FollowupType::as_str))
        .filter("status", "=", query.status.map(FollowupStatus::as_str));
    listing
        .page_json(db, query.page, "followups", "reading follow-ups")
        .await
}

/// One follow-up as its JSON view, or `None` when unknown.
pub async fn get_json(db: &Db, id: i64) -> Result<Option<JsonText>, ApiError> {
    let sql = format!("SELECT {VIEW_JSON} AS body FROM followups WHERE id = ?1");
    json_body(db, &sql, &[int(id)], "reading follow-up").await
}

/// Who asked for a status change, for the log.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    pub to: FollowupStatus,
    pub note: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// `api`, `github_webhook`, `reconciliation`.
    pub source: &'a str,
}

/// Whether follow-up `alias` (?1) is about to change to ?2: its status differs, and a change to
/// an active status would not make a second active follow-up of its type for its task.
fn changing(alias: &str) -> String {
    let active = FollowupStatus::ACTIVE_SQL;
    format!(
        "{alias}.id = ?1 AND {alias}.status IS NOT ?2 AND (?2 NOT IN {active} \
         OR {alias}.task_uuid IS NULL OR NOT EXISTS (SELECT 1 FROM followups other \
           WHERE other.task_uuid = {alias}.task_uuid AND other.type = {alias}.type \
             AND other.status IN {active} AND other.id <> {alias}.id))"
    )
}

/// A change that lifts remediation's block on the task: the problem was fixed (an issue closed
/// as completed, a pull request merged) or a human decided not to fix a `blocked` one.
const LIFTS_BLOCK: &str = "((?2 = 'fixed' AND f.type IN ('blocked', 'auto-fix-applied')) \
     OR (?2 = 'wontfix' AND f.type = 'blocked'))";

/// The other active `blocked` follow-up `b` of a task whose block follow-up ?1's change lifts
/// (run while the task is still blocked).
fn block_lifted_with() -> String {
    format!(
        "b.type = 'blocked' AND b.status IN {} AND b.id <> ?1 \
         AND b.task_uuid IN (SELECT f.task_uuid FROM followups f \
           JOIN tasks t ON t.uuid = f.task_uuid \
           WHERE f.id = ?1 AND f.status IS NOT ?2 AND t.status = 'blocked' \
             AND t.blocked_by = 'remediation' AND {LIFTS_BLOCK})",
        FollowupStatus::ACTIVE_SQL
    )
}

/// The statements of one follow-up's status change (?1 id, ?2 status, ?3 note, ?4 actor,
/// ?5 source), for the batch of whatever caused it. Each is conditional on the change really
/// happening, so running them for a follow-up already in that status writes nothing; closing
/// also releases the task's claim on the GitHub object, so a later report may open a new one.
pub fn transition_statements(
    db: &Db,
    id: i64,
    change: &Transition,
) -> worker::Result<Vec<D1PreparedStatement>> {
    let f = changing("f");
    let lifted = block_lifted_with();
    let sqls = [
        format!(
            "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
             SELECT 'orchestrator', f.order_id, f.task_uuid, 'followup_status_changed', 'info', \
                    json_object('followup_id', f.id, 'type', f.type, 'from', f.status, 'to', ?2, \
                                'actor', ?4, 'source', ?5, 'note', ?3) \
             FROM followups f WHERE {f}"
        ),
        format!(
            "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
             SELECT 'orchestrator', t.order_id, t.uuid, 'task_status_changed', 'info', \
                    json_object('from', 'blocked', 'to', 'pending', 'followup_id', f.id, \
                                'followup_status', ?2, 'source', ?5) \
             FROM followups f JOIN tasks t ON t.uuid = f.task_uuid \
             WHERE {f} AND {LIFTS_BLOCK} AND t.status = 'blocked' AND t.blocked_by = 'remediation'"
        ),
        // The task's own `blocked` follow-up (when another follow-up, a merged pull request,
        // lifts the block) is fixed with it, and its issue claim released: no active block
        // stays on a pending task.
        format!(
            "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
             SELECT 'orchestrator', b.order_id, b.task_uuid, 'followup_status_changed', 'info', \
                    json_object('followup_id', b.id, 'type', b.type, 'from', b.status, \
                                'to', 'fixed', 'actor', ?4, 'source', ?5, 'lifted_by', ?1) \
             FROM followups b WHERE {lifted}"
        ),
        format!(
            "DELETE FROM github_claims WHERE kind = 'issue' AND task_uuid IN \
               (SELECT b.task_uuid FROM followups b WHERE {lifted})"
        ),
        format!(
            "UPDATE followups SET status = 'fixed', updated_at = CURRENT_TIMESTAMP \
             WHERE id IN (SELECT b.id FROM followups b WHERE {lifted})"
        ),
        format!(
            "UPDATE tasks SET status = 'pending', blocked_by = NULL, updated_at = CURRENT_TIMESTAMP \
             WHERE uuid = (SELECT f.task_uuid FROM followups f WHERE {f} AND {LIFTS_BLOCK}) \
               AND status = 'blocked' AND blocked_by = 'remediation'"
        ),
        format!(
            "DELETE FROM github_claims WHERE (task_uuid, kind) IN \
               (SELECT f.task_uuid, f.github_kind FROM followups f \
                WHERE {f} AND ?2 IN ('fixed', 'wontfix'))"
        ),
        format!(
            "UPDATE followups SET status = ?2, note = COALESCE(?3, note), \
               updated_at = CURRENT_TIMESTAMP WHERE {}",
            changing("followups")
        ),
        "UPDATE followups SET note = ?3, updated_at = CURRENT_TIMESTAMP \
         WHERE id = ?1 AND status = ?2 AND ?3 IS NOT NULL AND note IS NOT ?3"
            .to_owned(),
    ];
    let params = [
        int(id),
        text(change.to.as_str()),
        opt_text(change.note),
        opt_text(change.actor),
        text(change.source),
    ];
    sqls.iter()
        .map(|sql| prepare_bound(db, sql, &params))
        .collect()
}

pub enum PatchOutcome {
    /// The follow-up after the change, as its JSON view.
    Updated(String),
    NotFound,
    /// Reopening would make a second active follow-up of its type for the task.
    Conflict {
        other: i64,
    },
}

/// `PATCH /api/followups/:id`: the change and its consequences in one batch, then the row.
pub async fn set_status(
    db: &Db,
    id: i64,
    change: &Transition<'_>,
) -> Result<PatchOutcome, ApiError> {
    let mut statements =
        transition_statements(db, id, change).map_err(internal("binding follow-up change"))?;
    statements.push(
        db.prepare(format!(
            "SELECT status, task_uuid, type, {VIEW_JSON} AS body FROM followups WHERE id = ?1"
        ))
        .bind(&[int(id)])
        .map_err(internal("binding follow-up lookup"))?,
    );
    #[derive(Deserialize)]
    struct After {
        status: String,
        task_uuid: Option<String>,
        #[serde(rename = "type")]
        kind: String,
        body: String,
    }
    let results = db
        .batch(statements)
        .await
        .map_err(internal("changing follow-up status"))?;
    let after = results
        .last()
        .map(|r| rows::<After>(r, "decoding follow-up"))
        .transpose()?
        .and_then(|rows| rows.into_iter().next());
    let Some(after) = after else {
        return Ok(PatchOutcome::NotFound);
    };
    if after.status == change.to.as_str() {
        return Ok(PatchOutcome::Updated(after.body));
    }
    // Only the uniqueness guard leaves a requested status unapplied.
    let other = active_of(db, after.task_uuid.as_deref(), &after.kind)
        .await?
        .unwrap_or_default();
    Ok(PatchOutcome::Conflict { other })
}

/// The id of the active follow-up of `kind` for a task.
pub async fn active_of(
    db: &Db,
    task_uuid: Option<&str>,
    kind: &str,
) -> Result<Option<i64>, ApiError> {
    let Some(task_uuid) = task_uuid else {
        return Ok(None);
    };
    Ok(find_open(db, task_uuid, kind).await?.map(|f| f.id))
}

/// Follow-ups tracking GitHub object `number` of `kind` in `repo` (case-insensitive, as GitHub
/// names are), newest first, with their status.
pub async fn tracking(
    db: &Db,
    repo: &str,
    kind: GithubKind,
    number: u64,
) -> Result<Vec<(i64, String)>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        id: i64,
        status: String,
    }
    let found = db
        .prepare(
            "SELECT id, status FROM followups WHERE github_repo = ?1 COLLATE NOCASE \
             AND github_number = ?2 AND github_kind = ?3 ORDER BY id DESC",
        )
        .bind(&[text(repo), int(number as i64), text(kind.as_str())])
        .map_err(internal("binding follow-up match"))?
        .all()
        .await
        .map_err(internal("matching follow-ups"))?;
    Ok(rows::<Row>(&found, "decoding follow-up match")?
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect())
}

/// An active follow-up that tracks a GitHub object, due for reconciliation.
#[derive(Debug, Clone, Deserialize)]
pub struct Tracked {
    pub id: i64,
    pub status: String,
    pub github_kind: String,
    pub github_repo: String,
    pub github_number: i64,
}

/// Active follow-ups with a GitHub object, least recently checked first.
pub async fn due_for_reconciliation(db: &Db, limit: u32) -> Result<Vec<Tracked>, ApiError> {
    let result = db
        .prepare(format!(
            "SELECT id, status, github_kind, github_repo, github_number FROM followups \
             WHERE github_number IS NOT NULL AND github_repo IS NOT NULL \
               AND github_kind IS NOT NULL AND status IN {} \
             ORDER BY checked_at IS NOT NULL, checked_at, id LIMIT ?1",
            FollowupStatus::ACTIVE_SQL
        ))
        .bind(&[int(i64::from(limit))])
        .map_err(internal("binding reconciliation query"))?
        .all()
        .await
        .map_err(internal("reading follow-ups to reconcile"))?;
    rows(&result, "decoding follow-ups to reconcile")
}

pub fn mark_checked_statement(db: &Db, id: i64) -> worker::Result<D1PreparedStatement> {
    db.prepare("UPDATE followups SET checked_at = CURRENT_TIMESTAMP WHERE id = ?1")
        .bind(&[int(id)])
}

/// Marks a task's open `blocked` follow-ups fixed (its problem was remediated since).
pub fn resolve_blocked_statement(db: &Db, task_uuid: &str) -> worker::Result<D1PreparedStatement> {
    db.prepare(format!(
        "UPDATE followups SET status = 'fixed', updated_at = CURRENT_TIMESTAMP \
         WHERE task_uuid = ?1 AND type = 'blocked' AND status IN {}",
        FollowupStatus::ACTIVE_SQL
    ))
    .bind(&[text(task_uuid)])
}
