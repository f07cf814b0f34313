//! Composing a help answer for a task: focused queries run concurrently against the docs MCP
//! server, merged, then a model synthesis (when configured) or the best excerpt; when every
//! query fails, a degraded answer from the task's own instruction.

use super::answer::{self, GuidanceKind};
use super::merge::{merge_hits, Budget, Source};
use super::query::build_queries;
use super::request::HelpRequest;
use crate::config::Config;
use crate::store::help_cache::CachedAnswer;
use crate::store::tasks::TaskRow;
use crate::upstream::docs::DocsClient;
use worker::console_warn;

/// A freshly composed answer and what went wrong on the way (for the log).
pub struct Composed {
    pub answer: CachedAnswer,
    pub degraded: bool,
    pub problems: Vec<String>,
}

pub async fn compose(config: &Config, task: &TaskRow, ask: &HelpRequest) -> Composed {
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
