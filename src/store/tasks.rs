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

/// Every column of a task, in the order the API shows them: the one list from which both the
/// `SELECT` decoded into [`TaskRow`] and the JSON SQLite builds for the API are made. Adding a
/// column to every task answer is one more name here. `$m` is one of the macros below.
macro_rules! task_columns {
    ($m:ident) => {
        $m!(
            uuid,
            order_id,
            file_path,
            placeholder,
            instruction,
            status,
            created_at,
            updated_at
        )
    };
}

/// `a, b, c`
macro_rules! column_list {
    ($first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
}

/// `json_object('a', t.a, 'b', t.b, ...)` over `tasks` aliased `t`.
macro_rules! json_object_of {
    ($first:ident $(, $rest:ident)*) => {
        concat!(
            "json_object('", stringify!($first), "', t.", stringify!($first),
            $(", '", stringify!($rest), "', t.", stringify!($rest),)*
            ")"
        )
    };
}

const TASK_COLUMNS: &str = task_columns!(column_list);

/// `{order_id, factory, created_at, tasks:[task...]}` as one JSON text, tasks in creation order,
/// or no row for an unknown order: one statement, one D1 round trip, no row decoded in Rust.
/// A join rather than a subquery, because a value read out of a subquery loses its JSON subtype
/// (the tasks would come out as one string); `FILTER` makes an order without tasks `[]`.
const ORDER_TASKS_JSON: &str = concat!(
    "SELECT json_object('order_id', o.id, 'factory', o.factory, 'created_at', o.created_at, ",
    "'tasks', json_group_array(",
    task_columns!(json_object_of),
    " ORDER BY t.rowid) FILTER (WHERE t.uuid IS NOT NULL)) AS body ",
    "FROM orders o LEFT JOIN tasks t ON t.order_id = o.id WHERE o.id = ?1 GROUP BY o.id"
);

/// One task as JSON text, or no row.
const TASK_JSON: &str = concat!(
    "SELECT ",
    task_columns!(json_object_of),
    " AS body FROM tasks t WHERE t.uuid = ?1"
);

/// An order and its tasks as the answer of `GET /api/tasks/:order_id`, already JSON; `None` for
/// an unknown order.
pub async fn order_tasks_json(db: &D1Database, order_id: &str) -> Result<Option<String>, ApiError> {
    json_body(db, ORDER_TASKS_JSON, order_id, "reading order and tasks").await
}

/// A task as the answer of `GET /api/task/:uuid`, already JSON; `None` when unknown.
pub async fn task_json(db: &D1Database, uuid: &str) -> Result<Option<String>, ApiError> {
    json_body(db, TASK_JSON, uuid, "reading task").await
}

/// The `body` column of the first row of a one-parameter statement.
async fn json_body(
    db: &D1Database,
    sql: &'static str,
    param: &str,
    context: &'static str,
) -> Result<Option<String>, ApiError> {
    db.prepare(sql)
        .bind(&[text(param)])
        .map_err(internal(context))?
        .first::<String>(Some("body"))
        .await
        .map_err(internal(context))
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
