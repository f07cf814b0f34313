//! Deleting what has expired, in bounded batches: idempotency answers older than 24 hours,
//! help-cache rows past their lifetime, and webhook delivery ids older than a week.

use super::{changes, int, internal};
use crate::error::ApiError;
use worker::D1Database;

/// Rows deleted per table per run at most; the next run takes the rest.
pub const BATCH: i64 = 1000;

/// (table, key column, age column, age in seconds)
const EXPIRING: [(&str, &str, &str, i64); 3] = [
    ("idempotency_keys", "rowid", "created_at", 24 * 3600),
    (
        "help_cache",
        "rowid",
        "created_at",
        crate::store::help_cache::TTL_SECS,
    ),
    ("github_deliveries", "rowid", "received_at", 7 * 24 * 3600),
];

/// Deletes expired rows; returns how many per table, in the order of `EXPIRING`.
pub async fn run(db: &D1Database) -> Result<Vec<(&'static str, usize)>, ApiError> {
    let statements = EXPIRING
        .iter()
        .map(|(table, key, age, secs)| {
            db.prepare(format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                 WHERE {age} < datetime('now', '-' || ?1 || ' seconds') LIMIT ?2)"
            ))
            .bind(&[int(*secs), int(BATCH)])
        })
        .collect::<worker::Result<Vec<_>>>()
        .map_err(internal("binding housekeeping"))?;
    let results = db
        .batch(statements)
        .await
        .map_err(internal("deleting expired rows"))?;
    Ok(EXPIRING
        .iter()
        .zip(&results)
        .map(|((table, ..), result)| (*table, changes(result)))
        .collect())
}
