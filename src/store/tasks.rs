//! Reading tasks and changing their status.

use super::{internal, opt_text, text};
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub factory: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

const TASK_COLUMNS: &str =
    "uuid, order_id, file_path, placeholder, instruction, status, created_at, updated_at";

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
    /// The compare-and-set saw another status than expected; nothing was written.
    Conflict {
        current: Option<String>,
    },
}

/// The batch reads the old status, logs old and new, and updates, all in one transaction and
/// all under the same `expected_status` condition, so a refused compare-and-set writes nothing
/// and two agents claiming one task cannot both succeed.
const READ_STATUS: &str = "SELECT status FROM tasks WHERE uuid = ?1";
const LOG_CHANGE: &str =
    "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
     SELECT 'orchestrator', order_id, uuid, 'task_status_changed', 'info', \
            json_object('from', status, 'to', ?2, 'expected_status', ?3) \
     FROM tasks WHERE uuid = ?1 AND (?3 IS NULL OR status IS ?3)";
const UPDATE_STATUS: &str = "UPDATE tasks SET status = ?2, updated_at = CURRENT_TIMESTAMP \
     WHERE uuid = ?1 AND (?3 IS NULL OR status IS ?3)";

#[derive(Deserialize)]
struct StatusOnly {
    status: Option<String>,
}

pub async fn set_status(
    db: &D1Database,
    uuid: &str,
    to: TaskStatus,
    expected: Option<TaskStatus>,
) -> Result<StatusChange, ApiError> {
    let params = [
        text(uuid),
        text(to.as_str()),
        opt_text(expected.map(TaskStatus::as_str)),
    ];
    let statements = [READ_STATUS, LOG_CHANGE, UPDATE_STATUS]
        .into_iter()
        .enumerate()
        .map(|(i, sql)| {
            db.prepare(sql)
                .bind(if i == 0 { &params[..1] } else { &params[..] })
        })
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
    let before = before
        .results::<StatusOnly>()
        .map_err(internal("decoding task status"))?
        .into_iter()
        .next();
    let Some(before) = before else {
        return Ok(StatusChange::NotFound);
    };
    let changes = update
        .meta()
        .map_err(internal("reading update metadata"))?
        .and_then(|meta| meta.changes)
        .unwrap_or(0);
    Ok(if changes == 0 {
        StatusChange::Conflict {
            current: before.status,
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
        "UPDATE tasks SET status = 'blocked', updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = ?1 AND (status IS NOT 'blocked')",
    )
    .bind(&[text(uuid)])
}

/// Puts a task blocked by remediation back to `pending` once its problem is fixed. Only a task
/// with an open `blocked` follow-up (ours) is touched: one an agent blocked stays blocked. Run
/// it before [`crate::store::followups::resolve_blocked_statement`] in the same batch.
pub fn unblock_statement(
    db: &D1Database,
    uuid: &str,
) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(
        "UPDATE tasks SET status = 'pending', updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = ?1 AND status = 'blocked' AND EXISTS (SELECT 1 FROM followups \
         WHERE task_uuid = ?1 AND type = 'blocked' AND status = 'open')",
    )
    .bind(&[text(uuid)])
}
