//! `POST /api/task/:uuid/help`: documentation-grounded help for an agent stuck on a task.
//!
//! Cached answer, or: focused queries run concurrently against the docs MCP server, merged,
//! then a model synthesis (when configured) or the best excerpt. When every query fails the
//! agent still gets a 200 with the task's instruction and `degraded: true`. Each request is
//! logged, with the cache entry (if any), in one batch.

use crate::config::Config;
use crate::domain::ids::is_plausible_id;
use crate::domain::oplog::LogLevel;
use crate::domain::text::shorten;
use crate::domain::validate::{body_object, Checker};
use crate::error::{ApiError, ApiResult};
use crate::help::answer::{self, GuidanceKind};
use crate::help::merge::{merge_hits, Budget, Source};
use crate::help::{cache_key, query::build_queries};
use crate::http::{self, read_json};
use crate::store::help_cache::{self, CachedAnswer};
use crate::store::oplog::{self, LogEntry};
use crate::store::tasks::{find_task, TaskRow};
use crate::store::{database, internal};
use crate::upstream::docs::DocsClient;
use serde_json::{json, Value};
use worker::{console_warn, Date, Env, Request, Response};

const MAX_HELP_BODY: usize = 64 * 1024;
const MAX_AGENT_NAME: usize = 100;
const MAX_QUESTION: usize = 4000;
const MAX_ERROR: usize = 8000;
/// How much of a question or error goes into the log row.
const LOGGED_TEXT_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRequest {
    pub agent_name: String,
    pub question: Option<String>,
    pub error: Option<String>,
}

pub fn parse_help_request(body: &Value) -> ApiResult<HelpRequest> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let agent_name = check.required_str(obj, "agent_name", "agent_name", MAX_AGENT_NAME);
    let question = check.optional_str(obj, "question", "question", MAX_QUESTION);
    let error = check.optional_str(obj, "error", "error", MAX_ERROR);
    check.finish()?;
    Ok(HelpRequest {
        agent_name: agent_name.unwrap_or_default().to_owned(),
        question: question.map(str::to_owned),
        error: error.map(str::to_owned),
    })
}

/// A freshly composed answer and what went wrong on the way (for the log).
struct Composed {
    answer: CachedAnswer,
    degraded: bool,
    problems: Vec<String>,
}

pub async fn help(req: &mut Request, env: &Env, uuid: &str) -> ApiResult<worker::Result<Response>> {
    let ask = parse_help_request(&read_json(req, MAX_HELP_BODY).await?)?;
    let not_found = || ApiError::NotFound {
        resource: "task",
        id: uuid.to_owned(),
    };
    if !is_plausible_id(uuid) {
        return Err(not_found());
    }
    let db = database(env)?;
    let task = find_task(&db, uuid).await?.ok_or_else(not_found)?;
    let config = Config::from_env(env);
    let started = Date::now().as_millis();

    let key = cache_key(uuid, ask.question.as_deref(), ask.error.as_deref());
    let (composed, cache_hit) = match help_cache::find(&db, &key).await? {
        Some(answer) => (
            Composed {
                answer,
                degraded: false,
                problems: Vec::new(),
            },
            true,
        ),
        None => (compose(&config, &task, &ask).await, false),
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
        details: json!({
            "agent_name": ask.agent_name,
            "question": ask.question.as_deref().map(|q| shorten(q, LOGGED_TEXT_CHARS)),
            "error": ask.error.as_deref().map(|e| shorten(e, LOGGED_TEXT_CHARS)),
            "sources": composed.answer.sources.iter().map(|s| &s.url).collect::<Vec<_>>(),
            "guidance": composed.answer.kind,
            "cache_hit": cache_hit,
            "degraded": composed.degraded,
            "problems": composed.problems,
            "duration_ms": duration_ms,
        }),
    };
    let mut writes =
        vec![oplog::insert_statement(&db, &log).map_err(internal("binding help log"))?];
    if !cache_hit && !composed.degraded {
        writes.push(
            help_cache::store_statement(&db, &key, &task.uuid, &composed.answer)
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
    Ok(http::json(
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
    ))
}

async fn compose(config: &Config, task: &TaskRow, ask: &HelpRequest) -> Composed {
    let (question, error) = (ask.question.as_deref(), ask.error.as_deref());
    let queries = build_queries(&task.instruction, question, error);
    if queries.is_empty() {
        return no_match(task, Vec::new());
    }
    let client = DocsClient::new(config.docs_mcp_url.clone(), config.docs_timeout);
    let (hits, errors) = client.search_all(&queries).await;
    let mut problems: Vec<String> = errors
        .iter()
        .map(|e| format!("docs {}: {e}", e.kind()))
        .collect();
    if hits.is_empty() && !errors.is_empty() {
        console_warn!(
            "help for {}: documentation search unavailable: {problems:?}",
            task.uuid
        );
        return Composed {
            answer: CachedAnswer {
                ai_guidance: answer::degraded_guidance(&task.instruction),
                kind: GuidanceKind::Degraded,
                sources: Vec::new(),
            },
            degraded: true,
            problems,
        };
    }
    let sources = merge_hits(&hits, &Budget::default());
    if sources.is_empty() {
        return no_match(task, problems);
    }
    if let Some(model) = &config.model {
        let prompt = answer::model_prompt(&task.instruction, question, error, &sources);
        match model.complete(&prompt.system, &prompt.user).await {
            Ok(text) if !text.trim().is_empty() => {
                return grounded(
                    answer::ensure_citation(&text, &sources),
                    GuidanceKind::Synthesis,
                    sources,
                    problems,
                )
            }
            Ok(_) => problems.push("model: empty answer".into()),
            Err(err) => problems.push(format!("model {}: {err}", err.kind())),
        }
    }
    let excerpt = answer::excerpt_guidance(&sources).unwrap_or_default();
    grounded(excerpt, GuidanceKind::Excerpt, sources, problems)
}

fn grounded(
    ai_guidance: String,
    kind: GuidanceKind,
    sources: Vec<Source>,
    problems: Vec<String>,
) -> Composed {
    Composed {
        answer: CachedAnswer {
            ai_guidance,
            kind,
            sources,
        },
        degraded: false,
        problems,
    }
}

fn no_match(task: &TaskRow, problems: Vec<String>) -> Composed {
    grounded(
        answer::no_match_guidance(&task.instruction),
        GuidanceKind::NoMatch,
        Vec::new(),
        problems,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_bodies() {
        let ask =
            parse_help_request(&json!({"agent_name": "gmail-agent", "question": "How?"})).unwrap();
        assert_eq!(ask.agent_name, "gmail-agent");
        assert_eq!(ask.question.as_deref(), Some("How?"));
        assert_eq!(ask.error, None);
        assert!(parse_help_request(&json!({"question": "How?"})).is_err());
        assert!(parse_help_request(&json!({"agent_name": "a", "error": 5})).is_err());
        assert!(parse_help_request(
            &json!({"agent_name": "a", "question": "q".repeat(MAX_QUESTION + 1)})
        )
        .is_err());
    }
}
