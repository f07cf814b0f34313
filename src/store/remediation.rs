//! The writes that record one remediated item, as one D1 batch: the task change, the follow-up,
//! the GitHub claim's outcome and the log rows (the item's own and its GitHub calls). Callers
//! describe the outcome; the position of each statement in the batch is this module's business.

use super::followups::{self, NewFollowup};
use super::github_claims;
use super::oplog;
use super::tasks;
use super::Db;
use super::{internal, rows};
use crate::domain::followup::GithubKind;
use crate::domain::oplog::LogEntry;
use crate::error::ApiError;
use serde::Deserialize;
use worker::D1PreparedStatement;

/// What happens to the task.
#[derive(Debug, Clone, Copy)]
pub enum TaskWrite<'a> {
    Keep,
    /// Re-point it, only if it still has the path the decision was made on.
    Move {
        from: &'a str,
        to: &'a str,
    },
    /// Blocked by remediation (an agent's lease on it ends).
    Block,
    /// A fix lifts the block an earlier report put on it: back to `pending`, its `blocked`
    /// follow-up fixed, and its issue claim released.
    Unblock,
}

/// What happens to the task's GitHub claim.
#[derive(Debug, Clone, Copy)]
pub enum ClaimWrite<'a> {
    Complete {
        kind: GithubKind,
        token: &'a str,
        number: u64,
        url: &'a str,
    },
    Release {
        kind: GithubKind,
        token: &'a str,
    },
}

pub struct ItemRecord<'a> {
    pub task_uuid: &'a str,
    pub task: TaskWrite<'a>,
    pub claim: Option<ClaimWrite<'a>>,
    /// An active follow-up is ensured (one per task and type); a closed one is inserted.
    pub followup: Option<NewFollowup<'a>>,
    pub logs: Vec<LogEntry<'a>>,
}

#[derive(Deserialize)]
struct IdRow {
    id: i64,
}

/// Writes the record in one batch and returns the id of its follow-up, if it has one.
pub async fn record(db: &Db, item: ItemRecord<'_>) -> Result<Option<i64>, ApiError> {
    let bind = |context| internal(context);
    let mut statements: Vec<D1PreparedStatement> = Vec::new();
    match item.task {
        TaskWrite::Keep => {}
        TaskWrite::Move { from, to } => statements.push(
            tasks::move_statement(db, item.task_uuid, from, to).map_err(bind("binding move"))?,
        ),
        TaskWrite::Block => statements
            .push(tasks::block_statement(db, item.task_uuid).map_err(bind("binding block"))?),
        TaskWrite::Unblock => {}
    }
    match item.claim {
        Some(ClaimWrite::Complete {
            kind,
            token,
            number,
            url,
        }) => statements.push(
            github_claims::complete_statement(db, item.task_uuid, kind, token, number, url)
                .map_err(bind("binding claim"))?,
        ),
        Some(ClaimWrite::Release { kind, token }) => statements.push(
            github_claims::release_statement(db, item.task_uuid, kind, token)
                .map_err(bind("binding claim"))?,
        ),
        None => {}
    }
    for entry in &item.logs {
        statements.push(oplog::insert_statement(db, entry).map_err(bind("binding log"))?);
    }
    // Unblocking comes after a move (so a moved task is unblocked too) and before the new
    // follow-up is ensured (so a fix's record is not taken for the block it lifts).
    if let TaskWrite::Unblock | TaskWrite::Move { .. } = item.task {
        statements
            .push(tasks::unblock_statement(db, item.task_uuid).map_err(bind("binding unblock"))?);
        statements.push(
            followups::resolve_blocked_statement(db, item.task_uuid)
                .map_err(bind("binding unblock"))?,
        );
        statements.push(
            github_claims::forget_statement(db, item.task_uuid, GithubKind::Issue)
                .map_err(bind("binding unblock"))?,
        );
    }
    let returns_id = match &item.followup {
        Some(followup) if followup.status.is_active() => {
            statements.extend(
                followups::ensure_active_statements(db, followup)
                    .map_err(bind("binding follow-up"))?,
            );
            true
        }
        Some(followup) => {
            statements.push(
                followups::insert_returning_statement(db, followup)
                    .map_err(bind("binding follow-up"))?,
            );
            true
        }
        None => false,
    };
    let results = db
        .batch(statements)
        .await
        .map_err(internal("writing remediation records"))?;
    if !returns_id {
        return Ok(None);
    }
    let id = results
        .last()
        .map(|r| rows::<IdRow>(r, "decoding follow-up id"))
        .transpose()?
        .and_then(|rows| rows.into_iter().next())
        .map(|row| row.id)
        .ok_or(ApiError::Internal("follow-up write returned no id"))?;
    Ok(Some(id))
}
