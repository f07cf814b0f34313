//! Reading tasks and changing their status.

use super::{changes, internal, opt_int, opt_text, prepare_bound, rows, text};
use crate::domain::lease::TaskLeaseState;
use crate::domain::status::TaskStatus;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// A row of `tasks`. The nullable columns are `Option` because rows written by the TypeScript
/// orchestrator (or before migration 0007) may lack them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRow {
    pub uuid: String,
    pub order_id: String,
    pub file_path: String,
    pub placeholder: String,
    pub instruction: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The agent holding the lease, while one is held.
    #[serde(default)]
    pub claimed_by: Option<String>,
    #[serde(default)]
    pub lease_expires_at: Option<String>,
    /// The fencing token of the task's last lease (kept after the lease ends).
    #[serde(default)]
    pub lease_token: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub factory: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Every task column an answer shows, in the order it shows them.
pub const TASK_COLUMNS: &str = "uuid, order_id, file_path, placeholder, instruction, status, \
     created_at, updated_at, claimed_by, lease_expires_at, lease_token";

/// Order and tasks come from one batch, so the list is consistent with the order it names.
pub async fn find_order_with_tasks(
    db: &D1Database,
    order_id: &str,
) -> Result<Option<(OrderRow, Vec<TaskRow>)>, ApiError> {
    let find_order = db
        .prepare("SELECT id, factory, created_at FROM orders WHERE id = ?1")
        .bind(&[text(order_id)])
        .map_err(internal("binding order lookup"))?;
    let list_tasks = db
        .prepare(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE order_id = ?1 ORDER BY rowid"
        ))
        .bind(&[text(order_id)])
        .map_err(internal("binding task list"))?;
    let results = db
        .batch(vec![find_order, list_tasks])
        .await
        .map_err(internal("reading order and tasks"))?;
    let [order, tasks] = results.as_slice() else {
        return Err(ApiError::Internal(
            "D1 batch returned an unexpected result count",
        ));
    };
    let order = order
        .results::<OrderRow>()
        .map_err(internal("decoding order row"))?
        .into_iter()
        .next();
    let Some(order) = order else { return Ok(None) };
    let tasks = tasks
        .results::<TaskRow>()
        .map_err(internal("decoding task rows"))?;
    Ok(Some((order, tasks)))
}

pub async fn find_task(db: &D1Database, uuid: &str) -> Result<Option<TaskRow>, ApiError> {
    db.prepare(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE uuid = ?1"))
        .bind(&[text(uuid)])
        .map_err(internal("binding task lookup"))?
        .first::<TaskRow>(None)
        .await
        .map_err(internal("reading task"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Changed {
        previous: Option<String>,
    },
    NotFound,
    /// The compare-and-set (expected status, lease token) refused; nothing was written.
    Refused {
        state: TaskLeaseState,
    },
}

/// A status change as a route asks for it.
#[derive(Debug, Clone, Copy)]
pub struct StatusRequest<'a> {
    pub to: TaskStatus,
    pub expected: Option<TaskStatus>,
    /// With a token the change is allowed only while it holds the live lease.
    pub lease_token: Option<i64>,
    pub note: Option<&'a str>,
}

/// Whether the task's lease is live, as SQL on a `tasks` row.
pub const LEASE_LIVE: &str = "(claimed_by IS NOT NULL AND lease_expires_at > datetime('now'))";

/// The compare-and-set condition every statement of the change repeats (?1 uuid, ?3 expected
/// status, ?4 lease token), so a refused change writes nothing and two agents claiming one task
/// cannot both succeed.
fn change_allowed() -> String {
    format!(
        "uuid = ?1 AND (?3 IS NULL OR status IS ?3) AND (?4 IS NULL OR (status = 'in_progress' \
         AND lease_token = ?4 AND {LEASE_LIVE}))"
    )
}

#[derive(Deserialize)]
struct StateRow {
    status: Option<String>,
    lease_token: Option<i64>,
    lease_live: i64,
}

/// Reads the state, logs old and new (and whether a live lease was bypassed), and updates,
/// all in one batch. Any status but `in_progress` ends the lease; the fencing token stays.
pub async fn set_status(
    db: &D1Database,
    uuid: &str,
    change: StatusRequest<'_>,
) -> Result<StatusChange, ApiError> {
    let allowed = change_allowed();
    let read = format!(
        "SELECT status, lease_token, {LEASE_LIVE} AS lease_live FROM tasks WHERE uuid = ?1"
    );
    let log = format!(
        "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
         SELECT 'orchestrator', order_id, uuid, 'task_status_changed', 'info', \
                json_object('from', status, 'to', ?2, 'expected_status', ?3, \
                            'lease_token', CAST(?4 AS INTEGER), 'agent', claimed_by, \
                            'unleased', json(CASE WHEN ?4 IS NULL AND {LEASE_LIVE} \
                                             THEN 'true' ELSE 'false' END), \
                            'note', ?5) \
         FROM tasks WHERE {allowed}"
    );
    let update = format!(
        "UPDATE tasks SET status = ?2, updated_at = CURRENT_TIMESTAMP, \
           claimed_by = CASE WHEN ?2 = 'in_progress' THEN claimed_by END, \
           lease_expires_at = CASE WHEN ?2 = 'in_progress' THEN lease_expires_at END, \
           blocked_by = CASE WHEN ?2 = 'blocked' THEN 'agent' END \
         WHERE {allowed}"
    );
    let params = [
        text(uuid),
        text(change.to.as_str()),
        opt_text(change.expected.map(TaskStatus::as_str)),
        opt_int(change.lease_token),
        opt_text(change.note),
    ];
    let statements = [read.as_str(), log.as_str(), update.as_str()]
        .into_iter()
        .map(|sql| prepare_bound(db, sql, &params))
        .collect::<worker::Result<Vec<_>>>()
        .map_err(internal("binding status change"))?;
    let results = db
        .batch(statements)
        .await
        .map_err(internal("changing task status"))?;
    let [before, _, update] = results.as_slice() else {
        return Err(ApiError::Internal(
            "D1 batch returned an unexpected result count",
        ));
    };
    let Some(before) = rows::<StateRow>(before, "decoding task status")?
        .into_iter()
        .next()
    else {
        return Ok(StatusChange::NotFound);
    };
    Ok(if changes(update) == 0 {
        StatusChange::Refused {
            state: TaskLeaseState {
                status: before.status,
                lease_token: before.lease_token,
                lease_live: before.lease_live != 0,
            },
        }
    } else {
        StatusChange::Changed {
            previous: before.status,
        }
    })
}

/// The task a factory meant when it named no uuid: by order, file and placeholder.
pub async fn find_task_by_place(
    db: &D1Database,
    order_id: &str,
    file_path: &str,
    placeholder: &str,
) -> Result<Option<TaskRow>, ApiError> {
    db.prepare(format!(
        "SELECT {TASK_COLUMNS} FROM tasks \
         WHERE order_id = ?1 AND file_path = ?2 AND placeholder = ?3 LIMIT 1"
    ))
    .bind(&[text(order_id), text(file_path), text(placeholder)])
    .map_err(internal("binding task lookup"))?
    .first::<TaskRow>(None)
    .await
    .map_err(internal("reading task"))
}

/// The placeholders of the other tasks of the same order in `file_path`: a patch must keep them.
pub async fn sibling_placeholders(
    db: &D1Database,
    task: &TaskRow,
) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        placeholder: String,
    }
    let rows = db
        .prepare(
            "SELECT placeholder FROM tasks WHERE order_id = ?1 AND file_path = ?2 AND uuid <> ?3 \
             ORDER BY rowid",
        )
        .bind(&[
            text(&task.order_id),
            text(&task.file_path),
            text(&task.uuid),
        ])
        .map_err(internal("binding sibling lookup"))?
        .all()
        .await
        .map_err(internal("reading sibling tasks"))?
        .results::<Row>()
        .map_err(internal("decoding sibling tasks"))?;
    Ok(rows.into_iter().map(|r| r.placeholder).collect())
}

/// Re-points a task, only if it still has the path the decision was made on.
pub fn move_statement(
    db: &D1Database,
    uuid: &str,
    from: &str,
    to: &str,
) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(
        "UPDATE tasks SET file_path = ?3, updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = ?1 AND file_path = ?2",
    )
    .bind(&[text(uuid), text(from), text(to)])
}

pub fn block_statement(db: &D1Database, uuid: &str) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(
        "UPDATE tasks SET status = 'blocked', blocked_by = 'remediation', \
           claimed_by = NULL, lease_expires_at = NULL, updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = ?1 AND (status IS NOT 'blocked')",
    )
    .bind(&[text(uuid)])
}

/// Puts a task blocked by remediation back to `pending` once its problem is fixed. Only a task
/// remediation blocked is touched: one an agent blocked stays blocked.
pub fn unblock_statement(
    db: &D1Database,
    uuid: &str,
) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(UNBLOCK).bind(&[text(uuid)])
}

/// ?1: the task's uuid.
pub const UNBLOCK: &str = "UPDATE tasks SET status = 'pending', blocked_by = NULL, \
       updated_at = CURRENT_TIMESTAMP \
     WHERE uuid = ?1 AND status = 'blocked' AND blocked_by = 'remediation'";
