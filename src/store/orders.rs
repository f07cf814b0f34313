//! Writing an order and all of its tasks in one D1 batch.

use super::Db;
use super::{classify_write_error, idempotency, oplog, text, WriteConflict};
use crate::domain::oplog::LogEntry;
use crate::domain::order::NewOrder;
use serde::Serialize;
use serde_json::json;
use worker::{console_warn, D1PreparedStatement};

const INSERT_ORDER: &str = "INSERT INTO orders (id, factory) VALUES (?1, ?2)";

/// All tasks in one statement: the rows travel as one JSON parameter and `json_each` expands
/// them, which keeps the batch at a fixed size whatever the order's size and stays clear of
/// D1's 100-parameters-per-statement limit. `json_each` yields rows in array order, so rowid
/// order is the order the client listed the tasks in.
const INSERT_TASKS: &str =
    "INSERT INTO tasks (uuid, order_id, file_path, placeholder, instruction, status) \
     SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'), \
            json_extract(value, '$[2]'), json_extract(value, '$[3]'), 'pending' \
     FROM json_each(?2)";

/// How often fresh ids are drawn after a collision with stored ids before giving up.
pub const MAX_ID_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct CreatedTask<'a> {
    pub uuid: String,
    pub file_path: &'a str,
    pub placeholder: &'a str,
    #[serde(skip)]
    pub instruction: &'a str,
}

/// The answer to a successful create, also what an idempotent replay returns.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedOrder<'a> {
    pub order_id: String,
    pub factory: &'a str,
    pub tasks_created: usize,
    pub tasks: Vec<CreatedTask<'a>>,
}

/// Pairs an order's tasks with freshly drawn ids.
pub fn assign_ids<'a>(
    order: &'a NewOrder,
    order_id: String,
    task_ids: Vec<String>,
) -> CreatedOrder<'a> {
    let tasks: Vec<CreatedTask<'a>> = order
        .files
        .iter()
        .flat_map(|file| {
            file.instructions
                .iter()
                .map(move |(placeholder, instruction)| {
                    (
                        file.file_path.as_str(),
                        placeholder.as_str(),
                        instruction.as_str(),
                    )
                })
        })
        .zip(task_ids)
        .map(
            |((file_path, placeholder, instruction), uuid)| CreatedTask {
                uuid,
                file_path,
                placeholder,
                instruction,
            },
        )
        .collect();
    CreatedOrder {
        order_id,
        factory: &order.factory,
        tasks_created: tasks.len(),
        tasks,
    }
}

/// What the idempotency record of this write holds.
pub struct IdempotencyRecord<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
    pub status: u16,
    pub body: &'a str,
}

pub const IDEMPOTENCY_SCOPE: &str = "create_order";

#[derive(Debug)]
pub enum InsertOutcome {
    Inserted,
    /// An id was taken already; draw new ones and try again.
    IdCollision,
    /// Another request with the same Idempotency-Key won the race.
    KeyTaken,
    Failed(worker::Error),
}

/// Writes order, tasks, the log entry and the idempotency record: all of them or none.
pub async fn insert(
    db: &Db,
    created: &CreatedOrder<'_>,
    record: Option<&IdempotencyRecord<'_>>,
) -> InsertOutcome {
    let statements = match statements(db, created, record) {
        Ok(statements) => statements,
        Err(err) => return InsertOutcome::Failed(err),
    };
    match db.batch(statements).await {
        Ok(_) => InsertOutcome::Inserted,
        Err(err) => match classify_write_error(&err.to_string()) {
            WriteConflict::Unique { table } if table == "orders" || table == "tasks" => {
                console_warn!("id collision on {table}; drawing new ids");
                InsertOutcome::IdCollision
            }
            WriteConflict::Unique { table } if table == "idempotency_keys" => {
                InsertOutcome::KeyTaken
            }
            _ => InsertOutcome::Failed(err),
        },
    }
}

fn statements(
    db: &Db,
    created: &CreatedOrder<'_>,
    record: Option<&IdempotencyRecord<'_>>,
) -> worker::Result<Vec<D1PreparedStatement>> {
    let rows: Vec<[&str; 4]> = created
        .tasks
        .iter()
        .map(|t| [t.uuid.as_str(), t.file_path, t.placeholder, t.instruction])
        .collect();
    let rows = serde_json::to_string(&rows)?;
    let log = LogEntry::orchestrator(
        "order_created",
        json!({ "factory": created.factory, "tasks_created": created.tasks_created }),
    )
    .order(&created.order_id);

    let mut statements = vec![
        db.prepare(INSERT_ORDER)
            .bind(&[text(&created.order_id), text(created.factory)])?,
        db.prepare(INSERT_TASKS)
            .bind(&[text(&created.order_id), text(&rows)])?,
        oplog::insert_statement(db, &log)?,
    ];
    if let Some(r) = record {
        statements.extend(idempotency::record_statements(
            db,
            IDEMPOTENCY_SCOPE,
            r.key,
            r.request_hash,
            r.status,
            r.body,
        )?);
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::NewFile;

    #[test]
    fn ids_are_assigned_in_listing_order() {
        let order = NewOrder {
            factory: "f".into(),
            files: vec![
                NewFile {
                    file_path: "a.ts".into(),
                    instructions: vec![("X".into(), "x".into()), ("Y".into(), "y".into())],
                },
                NewFile {
                    file_path: "b.py".into(),
                    instructions: vec![("Z".into(), "z".into())],
                },
            ],
        };
        let created = assign_ids(
            &order,
            "ORD-1".into(),
            vec!["A".into(), "B".into(), "C".into()],
        );
        assert_eq!(created.tasks_created, 3);
        let got: Vec<_> = created
            .tasks
            .iter()
            .map(|t| (t.uuid.as_str(), t.file_path, t.placeholder, t.instruction))
            .collect();
        assert_eq!(
            got,
            [
                ("A", "a.ts", "X", "x"),
                ("B", "a.ts", "Y", "y"),
                ("C", "b.py", "Z", "z")
            ]
        );
        let body = serde_json::to_value(&created).unwrap();
        assert!(body["tasks"][0].get("instruction").is_none());
    }
}
