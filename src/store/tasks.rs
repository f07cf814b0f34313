//! Reading tasks and changing their status.

use super::Db;
use super::{batch_shared, changes, internal, json_body, opt_int, opt_text, rows, text};
use crate::domain::lease::TaskLeaseState;
use crate::domain::status::{StoredStatus, TaskStatus};
use crate::error::ApiError;
use crate::json_text::JsonText;
use serde::{Deserialize, Serialize};

/// A row of `tasks`. The nullable columns are `Option` because rows written by the TypeScript
/// orchestrator (or before migration 0007) may lack them; `status` is typed here, once, and
/// keeps text that is none of the four states (see [`StoredStatus`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRow {
    pub uuid: String,
    pub order_id: String,
    pub file_path: String,
    pub placeholder: String,
    pub instruction: String,
    #[serde(default)]
    pub status: Option<StoredStatus>,
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
            updated_at,
            claimed_by,
            lease_expires_at,
            lease_token
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

/// Every task column an answer shows, in the order it shows them.
pub const TASK_COLUMNS: &str = task_columns!(column_list);

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
pub async fn order_tasks_json(db: &Db, order_id: &str) -> Result<Option<JsonText>, ApiError> {
    json_body(
        db,
        ORDER_TASKS_JSON,
        &[text(order_id)],
        "reading order and tasks",
    )
    .await
}

/// A task as the answer of `GET /api/task/:uuid`, already JSON; `None` when unknown.
pub async fn task_json(db: &Db, uuid: &str) -> Result<Option<JsonText>, ApiError> {
    json_body(db, TASK_JSON, &[text(uuid)], "reading task").await
}

pub async fn find_task(db: &Db, uuid: &str) -> Result<Option<TaskRow>, ApiError> {
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
        previous: Option<StoredStatus>,
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
    status: Option<StoredStatus>,
    lease_token: Option<i64>,
    lease_live: i64,
}

/// Reads the state, logs old and new (and whether a live lease was bypassed), and updates,
/// all in one batch. Any status but `in_progress` ends the lease; the fencing token stays.
pub async fn set_status(
    db: &Db,
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
    let [before, _, update] = batch_shared(
        db,
        [read.as_str(), log.as_str(), update.as_str()],
        &params,
        "changing task status",
    )
    .await?;
    let Some(before) = rows::<StateRow>(&before, "decoding task status")?
        .into_iter()
        .next()
    else {
        return Ok(StatusChange::NotFound);
    };
    Ok(if changes(&update) == 0 {
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
    db: &Db,
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
pub async fn sibling_placeholders(db: &Db, task: &TaskRow) -> Result<Vec<String>, ApiError> {
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
    db: &Db,
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

pub fn block_statement(db: &Db, uuid: &str) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(
        "UPDATE tasks SET status = 'blocked', blocked_by = 'remediation', \
           claimed_by = NULL, lease_expires_at = NULL, updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = ?1 AND (status IS NOT 'blocked')",
    )
    .bind(&[text(uuid)])
}

/// Puts a task blocked by remediation back to `pending` once its problem is fixed. Only a task
/// remediation blocked is touched: one an agent blocked stays blocked.
pub fn unblock_statement(db: &Db, uuid: &str) -> worker::Result<worker::D1PreparedStatement> {
    db.prepare(UNBLOCK).bind(&[text(uuid)])
}

/// ?1: the task's uuid.
pub const UNBLOCK: &str = "UPDATE tasks SET status = 'pending', blocked_by = NULL, \
       updated_at = CURRENT_TIMESTAMP \
     WHERE uuid = ?1 AND status = 'blocked' AND blocked_by = 'remediation'";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_of_any_age_stay_readable_and_show_their_status_as_stored() {
        let row = |status: Option<serde_json::Value>| {
            let mut row = json!({
                "uuid": "AB12CD", "order_id": "ORD-1", "file_path": "a.ts",
                "placeholder": "P", "instruction": "i",
            });
            if let Some(status) = status {
                row["status"] = status;
            }
            serde_json::from_value::<TaskRow>(row).unwrap()
        };
        // 0005's rows before 0007 and 0010 have no later column at all.
        assert_eq!(row(None).status, None);
        assert_eq!(row(Some(json!(null))).status, None);
        assert_eq!(
            row(Some(json!("pending"))).status,
            Some(TaskStatus::Pending.into())
        );
        let odd = row(Some(json!("done")));
        assert_eq!(odd.status, Some(StoredStatus::Unknown("done".into())));
        assert_eq!(serde_json::to_value(&odd).unwrap()["status"], "done");
    }
}
