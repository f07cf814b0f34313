//! The right to create a task's GitHub issue or pull request, claimed in D1 before GitHub is
//! called, so concurrent reports (or a redelivered queue message) open one, not several.
//!
//! The winner creates the object and records it on the claim; a loser reuses what the claim
//! says. A claim whose winner died before recording anything is taken over after
//! [`STALE_AFTER_SECS`]; closing the follow-up that tracks the object deletes the claim.

use super::Db;
use super::{int, internal, opt_text, rows, text};
use crate::domain::followup::GithubKind;
use crate::error::ApiError;
use serde::Deserialize;
use worker::D1PreparedStatement;

/// Long enough for any GitHub flow of one item to finish; short enough that a dead request
/// does not hold a task's issue for long.
pub const STALE_AFTER_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request holds the claim: create the object, then [`complete_statement`].
    Won,
    /// Another request created it already.
    Created { number: Option<i64>, url: String },
    /// Another request holds the claim and has not finished.
    Pending,
}

#[derive(Deserialize)]
struct Row {
    token: String,
    url: Option<String>,
    number: Option<i64>,
}

/// Claims (task, kind) with `token`: inserted, or taken over when stale, in one statement.
pub async fn claim(
    db: &Db,
    task_uuid: &str,
    kind: GithubKind,
    token: &str,
) -> Result<Claim, ApiError> {
    let take = db
        .prepare(
            "INSERT INTO github_claims (task_uuid, kind, token, claimed_at) \
             VALUES (?1, ?2, ?3, CURRENT_TIMESTAMP) \
             ON CONFLICT (task_uuid, kind) DO UPDATE SET token = excluded.token, \
               claimed_at = excluded.claimed_at \
             WHERE github_claims.url IS NULL \
               AND github_claims.claimed_at <= datetime('now', '-' || ?4 || ' seconds')",
        )
        .bind(&[
            text(task_uuid),
            text(kind.as_str()),
            text(token),
            int(STALE_AFTER_SECS),
        ])
        .map_err(internal("binding GitHub claim"))?;
    let read = db
        .prepare("SELECT token, url, number FROM github_claims WHERE task_uuid = ?1 AND kind = ?2")
        .bind(&[text(task_uuid), text(kind.as_str())])
        .map_err(internal("binding GitHub claim lookup"))?;
    let results = db
        .batch(vec![take, read])
        .await
        .map_err(internal("claiming a GitHub object"))?;
    let row = results
        .last()
        .map(|r| rows::<Row>(r, "decoding GitHub claim"))
        .transpose()?
        .and_then(|rows| rows.into_iter().next())
        .ok_or(ApiError::Internal("GitHub claim vanished"))?;
    Ok(match row {
        Row {
            url: Some(url),
            number,
            ..
        } => Claim::Created { number, url },
        Row { token: held, .. } if held == token => Claim::Won,
        _ => Claim::Pending,
    })
}

/// What the claim says now (a loser polling for the winner's result).
pub async fn read(db: &Db, task_uuid: &str, kind: GithubKind) -> Result<Option<String>, ApiError> {
    let row = db
        .prepare("SELECT token, url, number FROM github_claims WHERE task_uuid = ?1 AND kind = ?2")
        .bind(&[text(task_uuid), text(kind.as_str())])
        .map_err(internal("binding GitHub claim lookup"))?
        .first::<Row>(None)
        .await
        .map_err(internal("reading GitHub claim"))?;
    Ok(row.and_then(|r| r.url))
}

/// Records the created object on the claim `token` still holds.
pub fn complete_statement(
    db: &Db,
    task_uuid: &str,
    kind: GithubKind,
    token: &str,
    number: u64,
    url: &str,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "UPDATE github_claims SET number = ?4, url = ?5 \
         WHERE task_uuid = ?1 AND kind = ?2 AND token = ?3",
    )
    .bind(&[
        text(task_uuid),
        text(kind.as_str()),
        text(token),
        int(number as i64),
        opt_text(Some(url)),
    ])
}

/// Forgets the task's claim on its `kind` of object (the problem it was about is fixed), so a
/// later report may open a new one.
pub fn forget_statement(
    db: &Db,
    task_uuid: &str,
    kind: GithubKind,
) -> worker::Result<D1PreparedStatement> {
    db.prepare("DELETE FROM github_claims WHERE task_uuid = ?1 AND kind = ?2")
        .bind(&[text(task_uuid), text(kind.as_str())])
}

/// Gives the claim back after GitHub failed, so a later report may try again.
pub fn release_statement(
    db: &Db,
    task_uuid: &str,
    kind: GithubKind,
    token: &str,
) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "DELETE FROM github_claims WHERE task_uuid = ?1 AND kind = ?2 AND token = ?3 \
         AND url IS NULL",
    )
    .bind(&[text(task_uuid), text(kind.as_str()), text(token)])
}
