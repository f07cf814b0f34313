//! Cached help answers, keyed by task, question and error, with a time-to-live.

use super::{internal, text};
use crate::error::ApiError;
use crate::help::answer::GuidanceKind;
use crate::help::merge::Source;
use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

/// Documentation changes slowly and agents retry the same question in bursts; six hours keeps
/// answers fresh without asking the docs server again for every retry.
pub const TTL_SECS: i64 = 6 * 3600;
const TTL_SQL: &str = "-21600 seconds";

const FIND: &str =
    "SELECT answer FROM help_cache WHERE cache_key = ?1 AND created_at >= datetime('now', ?2)";
const UPSERT: &str = "INSERT INTO help_cache (cache_key, task_uuid, answer) VALUES (?1, ?2, ?3) \
     ON CONFLICT (cache_key) DO UPDATE SET answer = excluded.answer, created_at = CURRENT_TIMESTAMP";

/// What is cached: the parts of an answer that do not depend on who asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub ai_guidance: String,
    /// "synthesis", "excerpt" or "no_match"; degraded answers are never cached.
    pub kind: GuidanceKind,
    pub sources: Vec<Source>,
}

#[derive(Deserialize)]
struct Row {
    answer: String,
}

pub async fn find(db: &D1Database, key: &str) -> Result<Option<CachedAnswer>, ApiError> {
    let row = db
        .prepare(FIND)
        .bind(&[text(key), text(TTL_SQL)])
        .map_err(internal("binding help cache lookup"))?
        .first::<Row>(None)
        .await
        .map_err(internal("reading help cache"))?;
    // A row that no longer parses (an older answer shape) is a miss, not an error.
    Ok(row.and_then(|row| serde_json::from_str(&row.answer).ok()))
}

pub fn store_statement(
    db: &D1Database,
    key: &str,
    task_uuid: &str,
    answer: &CachedAnswer,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(UPSERT).bind(&[
        text(key),
        text(task_uuid),
        text(&serde_json::to_string(answer)?),
    ])
}
