//! Rows of `error_events`: what factories reported, kept as reported, with their
//! `operation_logs` rows.
//!
//! A batch may hold thousands of items, and D1 counts every statement against a per-request
//! query limit, so items go in as JSON arrays expanded by `json_each`: two statements per chunk
//! whatever the chunk's length. Chunks stay well under D1's 2 MB limit on one bound value.

use super::{int, text};
use crate::domain::error_report::ErrorItem;
use worker::{D1Database, D1PreparedStatement};

/// Bytes of serialised items per chunk.
const CHUNK_BYTES: usize = 512 * 1024;

/// ?2: the batch id; ?3: the chunk's first position in the batch.
const INSERT_EVENTS: &str = "INSERT INTO error_events \
     (order_id, task_uuid, factory, file_path, placeholder, error_code, message, context, \
      batch_id, item_index, state, updated_at) \
     SELECT json_extract(value, '$.order_id'), json_extract(value, '$.task_uuid'), \
            json_extract(value, '$.factory'), json_extract(value, '$.file_path'), \
            json_extract(value, '$.placeholder'), json_extract(value, '$.error_code'), \
            json_extract(value, '$.message'), json_extract(value, '$.context'), \
            ?2, key + ?3, 'recorded', CURRENT_TIMESTAMP \
     FROM json_each(?1) ORDER BY key";

const INSERT_LOGS: &str = "INSERT INTO operation_logs \
     (source, order_id, task_uuid, operation, level, details) \
     SELECT 'factory', json_extract(value, '$.order_id'), json_extract(value, '$.task_uuid'), \
            'error_report', 'error', \
            json_set(value, '$.context', json(json_extract(value, '$.context'))) \
     FROM json_each(?1) ORDER BY key";

/// The statements recording `items` in `error_events` and `operation_logs`, in order. The log
/// row's details are the item with its `context` as JSON, not as the string it is stored as.
pub fn insert_statements(
    db: &D1Database,
    batch_id: &str,
    items: &[ErrorItem],
) -> worker::Result<Vec<D1PreparedStatement>> {
    let mut statements = Vec::new();
    for (first, chunk) in chunks(items)? {
        statements.push(db.prepare(INSERT_EVENTS).bind(&[
            text(&chunk),
            text(batch_id),
            int(first as i64),
        ])?);
        statements.push(db.prepare(INSERT_LOGS).bind(&[text(&chunk)])?);
    }
    Ok(statements)
}

/// `items` as JSON arrays of at most about [`CHUNK_BYTES`] each (one item is never split),
/// with the position of each chunk's first item.
fn chunks(items: &[ErrorItem]) -> worker::Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    let mut current = String::from("[");
    let mut first = 0;
    for (index, item) in items.iter().enumerate() {
        let json =
            serde_json::to_string(item).map_err(|e| worker::Error::RustError(e.to_string()))?;
        if current.len() > 1 && current.len() + json.len() + 2 > CHUNK_BYTES {
            current.push(']');
            out.push((first, std::mem::replace(&mut current, String::from("["))));
            first = index;
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&json);
    }
    if current.len() > 1 {
        current.push(']');
        out.push((first, current));
    }
    Ok(out)
}
