//! The SQL of the operation-log archive: the rows past retention, and deleting them.
//!
//! "Past retention" is the prefix of `operation_logs`, in id order, before the first row inside
//! the retention window. Rows get `ts` from `CURRENT_TIMESTAMP` at insert (no insert sets it),
//! so ids and times rise together and the prefix is exactly the old rows. Walking the prefix by
//! id needs no index on `ts`: each run reads the old rows plus one, never the whole table.

use super::{changes, int, internal, text, Db};
use crate::archive::plan::ArchivedRow;
use crate::error::ApiError;

/// The id of the first row inside the window, or past the last row when every row is old.
const BOUNDARY: &str = "COALESCE((SELECT id FROM operation_logs \
     WHERE ts >= datetime('now', '-' || ?1 || ' days') ORDER BY id LIMIT 1), \
     (SELECT COALESCE(MAX(id), 0) + 1 FROM operation_logs))";

/// The oldest rows past retention, at most `limit`, in id order.
pub async fn past_retention(
    db: &Db,
    retention_days: u32,
    limit: u32,
) -> Result<Vec<ArchivedRow>, ApiError> {
    let sql = format!(
        "SELECT id, ts, source, order_id, task_uuid, operation, level, details \
         FROM operation_logs WHERE id < {BOUNDARY} ORDER BY id LIMIT ?2"
    );
    db.prepare(sql)
        .bind(&[int(retention_days.into()), int(limit.into())])
        .map_err(internal("binding archive selection"))?
        .all()
        .await
        .map_err(internal("reading rows past retention"))?
        .results::<ArchivedRow>()
        .map_err(internal("decoding rows past retention"))
}

/// Deletes exactly the rows `ids` (all within `first..=last`), once their archive is verified.
pub async fn delete_archived(
    db: &Db,
    ids: &[i64],
    first: i64,
    last: i64,
) -> Result<usize, ApiError> {
    let list = serde_json::to_string(ids).expect("integers serialise");
    let result = db
        .prepare(
            "DELETE FROM operation_logs WHERE id BETWEEN ?2 AND ?3 \
             AND id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&[text(&list), int(first), int(last)])
        .map_err(internal("binding archive delete"))?
        .run()
        .await
        .map_err(internal("deleting archived rows"))?;
    Ok(changes(&result))
}

/// What a run without a bucket deleted: how many rows, and their id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Pruned {
    pub deleted: usize,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
}

/// Deletes at most `limit` rows past retention without archiving them (no bucket is bound).
pub async fn delete_past_retention(
    db: &Db,
    retention_days: u32,
    limit: u32,
) -> Result<Pruned, ApiError> {
    #[derive(serde::Deserialize)]
    struct Range {
        first_id: Option<i64>,
        last_id: Option<i64>,
    }
    let params = [int(retention_days.into()), int(limit.into())];
    let range_sql = format!(
        "SELECT MIN(id) AS first_id, MAX(id) AS last_id FROM (SELECT id FROM operation_logs \
         WHERE id < {BOUNDARY} ORDER BY id LIMIT ?2)"
    );
    // One batch: the range reported is the range deleted.
    let delete_sql = format!(
        "DELETE FROM operation_logs WHERE id IN (SELECT id FROM operation_logs \
         WHERE id < {BOUNDARY} ORDER BY id LIMIT ?2)"
    );
    let statements = vec![
        db.prepare(range_sql)
            .bind(&params)
            .map_err(internal("binding prune range"))?,
        db.prepare(delete_sql)
            .bind(&params)
            .map_err(internal("binding prune"))?,
    ];
    let results = db
        .batch(statements)
        .await
        .map_err(internal("deleting rows past retention"))?;
    let range = super::rows::<Range>(&results[0], "decoding prune range")?
        .into_iter()
        .next();
    Ok(Pruned {
        deleted: changes(&results[1]),
        first_id: range.as_ref().and_then(|r| r.first_id),
        last_id: range.and_then(|r| r.last_id),
    })
}
