//! `POST /api/task/:uuid/help`: documentation-grounded help for an agent stuck on a task.
//!
//! Cached answer, or: focused queries run concurrently against the docs MCP server, merged,
//! then a model synthesis (when configured) or the best excerpt. When every query fails the
//! agent still gets a 200 with the task's instruction and `degraded: true`. Each request is
//! logged, with the cache entry (if any), in one batch.

use crate::config::Config;
use crate::domain::ids::is_plausible_id;
use crate::domain::oplog::{LogEntry, LogLevel};
use crate::domain::text::shorten;
use crate::error::{ApiError, ApiResult};
use crate::help::answer::{self, GuidanceKind};
use crate::help::cache_key;
use crate::help::compose::{compose, Composed};
use crate::help::request::parse_help_request;
use crate::http::{self, read_json};
use crate::store::help_cache;
use crate::store::oplog;
use crate::store::tasks::find_task;
use crate::store::{internal, Db};
use serde_json::json;
use std::borrow::Cow;
use worker::{Date, Request, Response};

const MAX_HELP_BODY: usize = 64 * 1024;
/// How much of a question or error goes into the log row.
const LOGGED_TEXT_CHARS: usize = 500;

pub async fn help(req: &mut Request, config: &Config, db: &Db, uuid: &str) -> ApiResult<Response> {
    let ask = parse_help_request(&read_json(req, MAX_HELP_BODY).await?)?;
    let not_found = || ApiError::NotFound {
        resource: "task",
        id: uuid.to_owned(),
    };
    if !is_plausible_id(uuid) {
        return Err(not_found());
    }
    let task = find_task(db, uuid).await?.ok_or_else(not_found)?;
    let started = Date::now().as_millis();

    let key = cache_key(uuid, ask.question.as_deref(), ask.error.as_deref());
    let (composed, cache_hit) = match help_cache::find(db, &key).await? {
        Some(answer) => (
            Composed {
                answer,
                degraded: false,
                problems: Vec::new(),
            },
            true,
        ),
        None => (compose(config, &task, &ask).await, false),
    };
    let duration_ms = Date::now().as_millis().saturating_sub(started);

    let log = LogEntry {
        source: "agent",
        operation: "help_request",
        level: if composed.degraded || !composed.problems.is_empty() {
            LogLevel::Warn
        } else {
            LogLevel::Info
        },
        order_id: Some(&task.order_id),
        task_uuid: Some(&task.uuid),
        details: Cow::Owned(json!({
            "agent_name": ask.agent_name,
            "question": ask.question.as_deref().map(|q| shorten(q, LOGGED_TEXT_CHARS)),
            "error": ask.error.as_deref().map(|e| shorten(e, LOGGED_TEXT_CHARS)),
            "sources": composed.answer.sources.iter().map(|s| &s.url).collect::<Vec<_>>(),
            "guidance": composed.answer.kind,
            "cache_hit": cache_hit,
            "degraded": composed.degraded,
            "problems": composed.problems,
            "duration_ms": duration_ms,
        })),
    };
    let mut writes = vec![oplog::insert_statement(db, &log).map_err(internal("binding help log"))?];
    if !cache_hit && !composed.degraded {
        writes.push(
            help_cache::store_statement(db, &key, &task.uuid, &composed.answer)
                .map_err(internal("binding help cache"))?,
        );
    }
    db.batch(writes)
        .await
        .map_err(internal("writing help log"))?;

    let kind = if composed.degraded {
        GuidanceKind::Degraded
    } else {
        composed.answer.kind
    };
    http::json(
        200,
        &json!({
            "uuid": task.uuid,
            "agent_name": ask.agent_name,
            "question": ask.question,
            "error": ask.error,
            "original_instruction": task.instruction,
            "ai_guidance": composed.answer.ai_guidance,
            "summary": answer::summary(&ask.agent_name, &task.uuid, kind, composed.answer.sources.len()),
            "sources": composed.answer.sources,
            "degraded": composed.degraded,
            "cached": cache_hit,
        }),
    )
}
