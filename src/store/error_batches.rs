//! Where each reported item's remediation is: `recorded` (written with its batch), `queued`
//! (handed to the remediation queue), `working` (a consumer holds it), `done` (with its
//! answer). The rows are `error_events`; a position reported twice (a batch sent again after
//! a deferred answer) is read from its newest row.

use super::Db;
use super::{batch_shared, int, internal, rows, text};
use crate::domain::error_report::{ErrorCode, ErrorItem};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;
use worker::D1PreparedStatement;

/// The newest row of each position, as a condition on `error_events`.
const NEWEST: &str = "id = (SELECT MAX(n.id) FROM error_events n \
     WHERE n.batch_id = error_events.batch_id AND n.item_index = error_events.item_index)";

/// A consumer that died holding an item gives it up after this long.
pub const WORKING_STALE_SECS: i64 = 600;

/// Records the answers of items worked in the request: `answers` maps position to answer.
pub fn done_statement(
    db: &Db,
    batch_id: &str,
    answers: &serde_json::Map<String, Value>,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(format!(
        "UPDATE error_events SET state = 'done', updated_at = CURRENT_TIMESTAMP, \
           answer = json_extract(?2, '$.\"' || item_index || '\"') \
         WHERE batch_id = ?1 AND json_type(?2, '$.\"' || item_index || '\"') IS NOT NULL \
           AND {NEWEST}"
    ))
    .bind(&[
        text(batch_id),
        text(&Value::Object(answers.clone()).to_string()),
    ])
}

/// Marks the items at `positions` queued.
pub fn queued_statement(
    db: &Db,
    batch_id: &str,
    positions: &[usize],
) -> worker::Result<D1PreparedStatement> {
    db.prepare(format!(
        "UPDATE error_events SET state = 'queued', updated_at = CURRENT_TIMESTAMP \
         WHERE batch_id = ?1 AND item_index IN (SELECT value FROM json_each(?2)) AND {NEWEST}"
    ))
    .bind(&[
        text(batch_id),
        text(&serde_json::to_string(positions).unwrap_or_default()),
    ])
}

/// An item a queue consumer took.
#[derive(Debug, Clone)]
pub struct Taken {
    pub event_id: i64,
    pub attempts: u32,
    pub item: ErrorItem,
}

#[derive(Deserialize)]
struct TakenRow {
    id: i64,
    attempts: i64,
    order_id: Option<String>,
    factory: Option<String>,
    file_path: Option<String>,
    placeholder: Option<String>,
    task_uuid: Option<String>,
    error_code: String,
    message: String,
    context: Option<String>,
}

pub enum Take {
    Taken(Box<Taken>),
    /// Done already, or another consumer holds it (a duplicate delivery): nothing to do.
    NotQueued,
}

/// Takes the item at (batch, position) for work, if it is waiting (queued, or still `recorded`
/// when marking it queued failed) or held by a consumer that died: one conditional update, so
/// of two deliveries of one message only one works it.
pub async fn take(db: &Db, batch_id: &str, position: usize) -> Result<Take, ApiError> {
    let taken = db
        .prepare(format!(
            "UPDATE error_events SET state = 'working', attempts = attempts + 1, \
               updated_at = CURRENT_TIMESTAMP \
             WHERE batch_id = ?1 AND item_index = ?2 AND {NEWEST} \
               AND (state IN ('recorded', 'queued') OR (state = 'working' \
                    AND updated_at <= datetime('now', '-' || ?3 || ' seconds'))) \
             RETURNING id, attempts, order_id, factory, file_path, placeholder, task_uuid, \
               error_code, message, context"
        ))
        .bind(&[
            text(batch_id),
            int(position as i64),
            int(WORKING_STALE_SECS),
        ])
        .map_err(internal("binding queued item"))?
        .all()
        .await
        .map_err(internal("taking a queued item"))?;
    let Some(row) = rows::<TakenRow>(&taken, "decoding queued item")?
        .into_iter()
        .next()
    else {
        return Ok(Take::NotQueued);
    };
    Ok(Take::Taken(Box::new(Taken {
        event_id: row.id,
        attempts: row.attempts.max(0) as u32,
        item: ErrorItem {
            order_id: row.order_id.unwrap_or_default(),
            factory: row.factory.unwrap_or_default(),
            file_path: row.file_path.unwrap_or_default(),
            placeholder: row.placeholder,
            task_uuid: row.task_uuid,
            error_code: ErrorCode::parse(&row.error_code).unwrap_or(ErrorCode::Unknown),
            message: row.message,
            context: row.context.unwrap_or_else(|| "{}".into()),
        },
    })))
}

/// The item's final answer.
pub async fn finish(db: &Db, event_id: i64, answer: &Value) -> Result<(), ApiError> {
    db.prepare(
        "UPDATE error_events SET state = 'done', answer = ?2, updated_at = CURRENT_TIMESTAMP \
         WHERE id = ?1",
    )
    .bind(&[int(event_id), text(&answer.to_string())])
    .map_err(internal("binding item answer"))?
    .run()
    .await
    .map_err(internal("recording item answer"))
    .map(drop)
}

/// Back to the queue after a failure worth retrying; `why` is kept for the status route.
pub fn requeue_statement(db: &Db, event_id: i64, why: &str) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "UPDATE error_events SET state = 'queued', updated_at = CURRENT_TIMESTAMP, \
           answer = json_object('last_error', ?2) WHERE id = ?1 AND state = 'working'",
    )
    .bind(&[int(event_id), text(why)])
}

/// The positions of the batch's items not done yet; `None` for an unknown batch.
pub async fn not_done(db: &Db, batch_id: &str) -> Result<Option<Vec<usize>>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        item_index: i64,
        state: Option<String>,
    }
    let found = db
        .prepare(format!(
            "SELECT item_index, state FROM error_events WHERE batch_id = ?1 AND {NEWEST} \
             ORDER BY item_index"
        ))
        .bind(&[text(batch_id)])
        .map_err(internal("binding batch lookup"))?
        .all()
        .await
        .map_err(internal("reading batch"))?;
    let rows = rows::<Row>(&found, "decoding batch")?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter(|r| r.state.as_deref() != Some("done"))
            .map(|r| r.item_index.max(0) as usize)
            .collect(),
    ))
}

/// One item as the status route shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemState {
    pub item_index: i64,
    pub task_uuid: Option<String>,
    pub error_code: String,
    pub state: Option<String>,
    pub attempts: i64,
    pub answer: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counts {
    pub received: i64,
    pub recorded: i64,
    pub queued: i64,
    pub working: i64,
    pub done: i64,
    /// One past the highest position.
    pub positions: i64,
}

/// The batch's counts and a page of its items from position `from`; `None` if unknown.
pub async fn status(
    db: &Db,
    batch_id: &str,
    from: i64,
    limit: u32,
) -> Result<Option<(Counts, Vec<ItemState>)>, ApiError> {
    let count = |state: &str| format!("COALESCE(SUM(state = '{state}'), 0) AS {state}");
    let counts = format!(
        "SELECT COUNT(*) AS received, {}, {}, {}, {}, \
           COALESCE(MAX(item_index), -1) + 1 AS positions FROM error_events \
         WHERE batch_id = ?1 AND {NEWEST}",
        count("recorded"),
        count("queued"),
        count("working"),
        count("done"),
    );
    let items = format!(
        "SELECT item_index, task_uuid, error_code, state, attempts, answer FROM error_events \
         WHERE batch_id = ?1 AND item_index >= ?2 AND {NEWEST} ORDER BY item_index LIMIT ?3"
    );
    let [counts, items] = batch_shared(
        db,
        [counts.as_str(), items.as_str()],
        &[text(batch_id), int(from), int(i64::from(limit))],
        "reading batch status",
    )
    .await?;
    let counts = rows::<Counts>(&counts, "decoding batch counts")?
        .into_iter()
        .next()
        .unwrap_or_default();
    if counts.received == 0 {
        return Ok(None);
    }
    Ok(Some((counts, rows(&items, "decoding batch items")?)))
}
