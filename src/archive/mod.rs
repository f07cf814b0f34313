//! The bounded operation log: rows of `operation_logs` older than `OPS_LOG_RETENTION_DAYS` move
//! to R2 (binding `ARCHIVE`) as gzipped JSON Lines, one object per day and source (split into
//! numbered parts past `plan::PART_MAX_BYTES`), and only then leave D1.
//!
//! Per (day, source) of a run's batch: read the newest part, merge the rows into it
//! (`plan::merge`), write it back on the condition that nobody wrote it since it was read (R2
//! `onlyIf` on the etag, or on absence), read it back and check hash, row count and every row
//! (`plan::verify`), and only then delete exactly those rows from D1. Any failure leaves the
//! group's rows in D1 for the next run; the other groups go on. With no bucket bound, rows past
//! retention are deleted unarchived, and each run that deletes says so in one log row.
//!
//! `read` serves `GET /api/ops/archive`.

pub mod gzip;
pub mod plan;

use crate::domain::oplog::{LogEntry, LogLevel};
use crate::error::ApiError;
use crate::store::archive::{self as sql, Pruned};
use crate::store::oplog;
use crate::store::Db;
use plan::{ArchivedRow, Group, Merged};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use worker::{Bucket, Conditional, Env, HttpMetadata, Include, Object};

pub const BINDING: &str = "ARCHIVE";
/// Rows a run takes out of D1 at most (also bounded by `plan::RUN_MAX_BYTES`); at one run a
/// minute that is 2.9 million rows a day, far above what a fleet writes.
pub const ROWS_PER_RUN: u32 = 2000;
/// Objects listed per R2 call (R2's own maximum).
const LIST_LIMIT: u32 = 1000;

pub fn bucket(env: &Env) -> Option<Bucket> {
    env.bucket(BINDING).ok()
}

/// One run of the archive job; its summary goes into the `scheduled_run` log row. `Err` only
/// when D1 could not be read; a group that failed is listed under `failed` and keeps its rows.
pub async fn run(db: &Db, bucket: Option<&Bucket>, retention_days: u32) -> Result<Value, ApiError> {
    let Some(bucket) = bucket else {
        return prune(db, retention_days).await;
    };
    let mut rows = sql::past_retention(db, retention_days, ROWS_PER_RUN).await?;
    rows.truncate(plan::fit(&rows, plan::RUN_MAX_BYTES));
    let (mut archived, mut deleted) = (0, 0);
    let mut objects = Vec::new();
    let mut failed = Vec::new();
    for group in plan::group(&rows) {
        match archive_group(db, bucket, &group).await {
            Ok(done) => {
                archived += done.added;
                deleted += done.deleted;
                objects.push(done.key);
            }
            Err(why) => failed.push(json!({
                "day": group.day, "source": group.source, "rows": group.rows.len(), "error": why,
            })),
        }
    }
    Ok(json!({
        "retention_days": retention_days,
        "selected": rows.len(),
        "archived": archived,
        "deleted": deleted,
        "objects": objects,
        "failed": failed,
    }))
}

/// No bucket: delete a bounded batch past retention, and say so in one log row.
async fn prune(db: &Db, retention_days: u32) -> Result<Value, ApiError> {
    let pruned: Pruned = sql::delete_past_retention(db, retention_days, ROWS_PER_RUN).await?;
    if pruned.deleted > 0 {
        let entry = LogEntry::orchestrator(
            "ops_log_deleted_unarchived",
            json!({
                "deleted": pruned.deleted,
                "first_id": pruned.first_id,
                "last_id": pruned.last_id,
                "retention_days": retention_days,
                "why": "no R2 bucket is bound as ARCHIVE",
            }),
        )
        .level(LogLevel::Warn);
        oplog::insert_statement(db, &entry)
            .map_err(crate::store::internal("binding prune log"))?
            .run()
            .await
            .map_err(crate::store::internal("logging the prune"))?;
    }
    Ok(
        json!({ "retention_days": retention_days, "bucket": false, "deleted_unarchived": pruned.deleted }),
    )
}

struct Done {
    key: String,
    added: usize,
    deleted: usize,
}

async fn archive_group(db: &Db, bucket: &Bucket, group: &Group<'_>) -> Result<Done, String> {
    let prefix = plan::source_prefix(&group.day, group.source);
    let parts = list_parts(bucket, &prefix).await?;
    let newest = parts.last();
    let (existing, etag) = match newest {
        Some(part) => {
            let text = read_text(bucket, &part.key).await?;
            (Some(text), Some(part.etag.clone()))
        }
        None => (None, None),
    };
    let merged = plan::merge(existing.as_deref(), &group.rows).map_err(|e| e.to_string())?;
    let ids = group.ids();
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    let newest_part = newest.map_or(1, |p| p.part);
    if merged.added == 0 {
        // An earlier run wrote every row and was cut off before the delete: the object just read
        // holds them all, equal to D1 (`merge` compared each), so only the delete is left.
        let deleted = sql::delete_archived(db, &ids, first, last)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let key = plan::object_key(&group.day, group.source, newest_part);
        return Ok(Done {
            key,
            added: 0,
            deleted,
        });
    }
    let full = existing
        .as_ref()
        .is_some_and(|t| t.len() >= plan::PART_MAX_BYTES);
    let (part, merged, etag, expected): (u32, Merged, Option<String>, Vec<&ArchivedRow>) = if full {
        // The newest part is full: the rows it lacks start the next part. The rows it has were
        // just read from it and compared, so they count as archived.
        let stored =
            plan::parse_lines(existing.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
        let have: std::collections::HashSet<i64> = stored.iter().map(|r| r.id).collect();
        let fresh: Vec<&ArchivedRow> = group
            .rows
            .iter()
            .copied()
            .filter(|r| !have.contains(&r.id))
            .collect();
        let merged = plan::merge(None, &fresh).map_err(|e| e.to_string())?;
        (newest_part + 1, merged, None, fresh)
    } else {
        (newest_part, merged, etag, group.rows.clone())
    };
    let key = plan::object_key(&group.day, group.source, part);
    write(bucket, &key, group.source, &merged, etag).await?;
    let read_back = read_text(bucket, &key).await?;
    plan::verify(&read_back, &merged, &expected).map_err(|e| format!("{key}: {e}"))?;
    let deleted = sql::delete_archived(db, &ids, first, last)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(Done {
        key,
        added: merged.added,
        deleted,
    })
}

/// Writes a part only if it is still what was read (`etag`), or still absent (`None`): two
/// runs that overlap can never overwrite each other's rows.
async fn write(
    bucket: &Bucket,
    key: &str,
    source: &str,
    merged: &Merged,
    etag: Option<String>,
) -> Result<(), String> {
    let body = gzip::compress(merged.text.as_bytes())
        .await
        .map_err(|e| format!("compressing {key}: {e}"))?;
    let condition = match etag {
        Some(etag) => Conditional {
            etag_matches: Some(etag),
            ..Default::default()
        },
        None => Conditional {
            etag_does_not_match: Some("*".into()),
            ..Default::default()
        },
    };
    let mut metadata = HashMap::from([
        ("rows".to_owned(), merged.rows.to_string()),
        ("first_id".to_owned(), merged.first_id.to_string()),
        ("last_id".to_owned(), merged.last_id.to_string()),
        ("sha256".to_owned(), merged.sha256.clone()),
    ]);
    if source.len() <= 512 {
        metadata.insert("source".into(), source.to_owned());
    }
    let sha = sha2_digest(&body);
    let written = bucket
        .put(key, body)
        .http_metadata(HttpMetadata {
            content_type: Some("application/x-ndjson".into()),
            content_encoding: Some("gzip".into()),
            ..Default::default()
        })
        .custom_metadata(metadata)
        .sha256(sha)
        .only_if(condition)
        .execute()
        .await
        .map_err(|e| format!("writing {key}: {e}"))?;
    match written {
        Some(_) => Ok(()),
        None => Err(format!(
            "writing {key}: it changed since it was read (another run?)"
        )),
    }
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// One stored part, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub key: String,
    pub source: Option<String>,
    pub part: u32,
    /// Compressed bytes in R2.
    pub size: u64,
    pub rows: Option<u64>,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    #[serde(skip)]
    etag: String,
}

impl Part {
    fn from_object(object: &Object, part: u32) -> Self {
        let meta = object.custom_metadata().unwrap_or_default();
        Self {
            key: object.key(),
            source: meta.get("source").cloned(),
            part,
            size: object.size(),
            rows: meta.get("rows").and_then(|v| v.parse().ok()),
            first_id: meta.get("first_id").and_then(|v| v.parse().ok()),
            last_id: meta.get("last_id").and_then(|v| v.parse().ok()),
            etag: object.etag(),
        }
    }
}

/// Every object under `prefix`, with its custom metadata, in key order.
async fn list_all(bucket: &Bucket, prefix: &str) -> Result<Vec<Object>, String> {
    let mut objects = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket
            .list()
            .prefix(prefix)
            .limit(LIST_LIMIT)
            .include(vec![Include::CustomMetadata]);
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list
            .execute()
            .await
            .map_err(|e| format!("listing {prefix}: {e}"))?;
        objects.extend(page.objects());
        match page.cursor().filter(|_| page.truncated()) {
            Some(next) => cursor = Some(next),
            None => return Ok(objects),
        }
    }
}

/// The parts of one (day, source), oldest first.
async fn list_parts(bucket: &Bucket, source_prefix: &str) -> Result<Vec<Part>, String> {
    let mut parts: Vec<Part> = list_all(bucket, source_prefix)
        .await?
        .iter()
        .filter_map(|o| plan::part_of(&o.key(), source_prefix).map(|n| Part::from_object(o, n)))
        .collect();
    crate::sort::sort_by_key(&mut parts, |p| p.part);
    Ok(parts)
}

/// An object's JSON Lines text, decompressed.
async fn read_text(bucket: &Bucket, key: &str) -> Result<String, String> {
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| format!("reading {key}: {e}"))?
        .ok_or_else(|| format!("reading {key}: it is gone"))?;
    let size = object.size();
    let body = object
        .body()
        .ok_or_else(|| format!("reading {key}: no body"))?;
    let bytes = body
        .bytes()
        .await
        .map_err(|e| format!("reading {key}: {e}"))?;
    if bytes.len() as u64 != size {
        return Err(format!("reading {key}: {} bytes, not {size}", bytes.len()));
    }
    let text = gzip::decompress(&bytes)
        .await
        .map_err(|e| format!("decompressing {key}: {e}"))?;
    String::from_utf8(text).map_err(|_| format!("reading {key}: not UTF-8"))
}

/// `GET /api/ops/archive?day=`: the day's objects.
pub async fn list_day(bucket: &Bucket, day: &str) -> Result<Vec<Part>, ApiError> {
    let objects = list_all(bucket, &plan::day_prefix(day))
        .await
        .map_err(r2_failed)?;
    Ok(objects
        .iter()
        .map(|o| {
            let key = o.key();
            let part = key
                .strip_suffix(".jsonl.gz")
                .and_then(|k| k.rsplit_once('.'))
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(1);
            Part::from_object(o, part)
        })
        .collect())
}

/// One page of a (day, source)'s archived rows with ids above `after`, and the cursor of the
/// next page. `None` when nothing of that day and source is archived.
pub async fn read_rows(
    bucket: &Bucket,
    day: &str,
    source: &str,
    after: i64,
    limit: usize,
) -> Result<Option<(Vec<ArchivedRow>, Option<i64>)>, ApiError> {
    let prefix = plan::source_prefix(day, source);
    let parts = list_parts(bucket, &prefix).await.map_err(r2_failed)?;
    if parts.is_empty() {
        return Ok(None);
    }
    // Parts hold rising ids; the first part with rows past the cursor serves the page.
    let Some(index) = parts
        .iter()
        .position(|p| p.last_id.is_none_or(|last| last > after))
    else {
        return Ok(Some((Vec::new(), None)));
    };
    let text = read_text(bucket, &parts[index].key)
        .await
        .map_err(r2_failed)?;
    let rows = plan::parse_lines(&text).map_err(|e| {
        worker::console_error!("archive {}: {e}", parts[index].key);
        ApiError::Internal("reading an archived object")
    })?;
    let mut rest: Vec<ArchivedRow> = rows.into_iter().filter(|r| r.id > after).collect();
    let more_here = rest.len() > limit;
    rest.truncate(limit);
    let more = more_here || index + 1 < parts.len();
    let next = rest.last().map(|r| r.id).filter(|_| more);
    Ok(Some((rest, next)))
}

fn r2_failed(why: String) -> ApiError {
    worker::console_error!("archive: {why}");
    ApiError::Internal("reading the archive bucket")
}
