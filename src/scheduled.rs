//! The cron handler (every minute, `wrangler.toml`): the jobs that keep the fleet's state true
//! without anyone asking. Each is bounded per run and isolated: one failing does not stop the
//! others, and each reports what it did to the operation log.
//!
//! - the lease sweep: expired leases give their tasks back (`pending`);
//! - GitHub reconciliation: follow-ups whose PR or issue changed on GitHub without a webhook
//!   reaching us (GitHub never retries a failed delivery) get the same transitions;
//! - housekeeping: expired idempotency answers, help-cache rows and webhook delivery ids go;
//! - the operation-log archive: rows past `OPS_LOG_RETENTION_DAYS` move to R2, then leave D1
//!   (`archive`).

use crate::archive;
use crate::config::Config;
use crate::domain::followup::GithubKind;
use crate::domain::github_event::status_when_closed;
use crate::domain::oplog::{LogEntry, LogLevel};
use crate::error::ApiError;
use crate::store::followups::{self, Transition};
use crate::store::oplog;
use crate::store::Db;
use crate::store::{database, housekeeping, internal, leases};
use crate::upstream::budget::CallBudget;
use crate::upstream::github::{GitHub, GitHubError};
use serde_json::json;
use std::rc::Rc;
use worker::{console_error, Env};

/// GitHub calls per run at most: with the sweep and housekeeping, one run stays far under
/// Workers' subrequest limit; the least recently checked follow-ups go first, so every one is
/// checked in turn.
pub const RECONCILE_PER_RUN: u32 = 20;

pub async fn run(env: &Env) {
    let db = match database(env) {
        Ok(db) => db,
        Err(err) => {
            console_error!("scheduled: {err:?}");
            return;
        }
    };
    let config = Config::shared(env);
    let mut report = serde_json::Map::new();
    match leases::sweep_expired(&db).await {
        Ok(n) => report.insert("leases_expired".into(), json!(n)),
        Err(err) => report.insert("lease_sweep_error".into(), json!(format!("{err:?}"))),
    };
    match reconcile(&db, &config).await {
        Ok(summary) => report.insert("reconciliation".into(), summary),
        Err(err) => report.insert("reconciliation_error".into(), json!(format!("{err:?}"))),
    };
    match housekeeping::run(&db).await {
        Ok(deleted) => report.insert(
            "deleted".into(),
            deleted
                .into_iter()
                .map(|(table, n)| (table.to_owned(), json!(n)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        ),
        Err(err) => report.insert("housekeeping_error".into(), json!(format!("{err:?}"))),
    };
    match archive::run(
        &db,
        archive::bucket(env).as_ref(),
        config.ops_log_retention_days,
    )
    .await
    {
        Ok(summary) => {
            // A group that could not be archived keeps its rows; the run says so at `error`.
            if summary["failed"].as_array().is_some_and(|f| !f.is_empty()) {
                report.insert("archive_error".into(), summary["failed"].clone());
            }
            report.insert("archive".into(), summary)
        }
        Err(err) => report.insert("archive_error".into(), json!(format!("{err:?}"))),
    };
    let failed = report.keys().any(|k| k.ends_with("_error"));
    let entry = LogEntry::orchestrator("scheduled_run", report.into()).level(if failed {
        LogLevel::Error
    } else {
        LogLevel::Debug
    });
    let logged = match oplog::insert_statement(&db, &entry) {
        Ok(statement) => statement.run().await.map(drop),
        Err(err) => Err(err),
    };
    if let Err(err) = logged {
        console_error!("scheduled: logging the run: {err}");
    }
}

/// Asks GitHub for the state of the least recently checked active follow-ups and applies what
/// changed, one D1 batch per follow-up (with the call's log row and its `checked_at`).
async fn reconcile(db: &Db, config: &Config) -> Result<serde_json::Value, ApiError> {
    let Some(github_config) = &config.github else {
        return Ok(json!({ "skipped": "GitHub is not configured" }));
    };
    // Each call costs a subrequest: the run's budget is the reconciliation's bound.
    let budget = Rc::new(CallBudget::new(RECONCILE_PER_RUN));
    let github = GitHub::new(github_config, budget);
    let ours = github.repo_name();
    let due = followups::due_for_reconciliation(db, RECONCILE_PER_RUN).await?;
    let (mut checked, mut changed) = (0, 0);
    for followup in due {
        let kind = GithubKind::parse(&followup.github_kind);
        let mut statements = vec![followups::mark_checked_statement(db, followup.id)
            .map_err(internal("binding reconciliation"))?];
        let target = match kind {
            // Another repository (the config changed since): nothing we can ask.
            Some(kind) if followup.github_repo.eq_ignore_ascii_case(&ours) => {
                match github.item_state(kind, followup.github_number as u64).await {
                    Ok(Some(state)) if state.closed => Some(status_when_closed(
                        kind,
                        state.merged,
                        state.state_reason.as_deref(),
                    )),
                    Ok(_) => None,
                    Err(GitHubError::BudgetSpent) => break,
                    Err(err) => {
                        console_error!("reconciling follow-up {}: {err}", followup.id);
                        None
                    }
                }
            }
            _ => None,
        };
        checked += 1;
        if let Some(to) = target.filter(|to| to.as_str() != followup.status) {
            changed += 1;
            let change = Transition {
                to,
                note: None,
                actor: None,
                source: "reconciliation",
            };
            statements.extend(
                followups::transition_statements(db, followup.id, &change)
                    .map_err(internal("binding follow-up change"))?,
            );
        }
        for call in github.take_calls() {
            let entry = LogEntry::orchestrator("github_call", json!(call)).level(call.log_level());
            statements.push(
                oplog::insert_statement(db, &entry).map_err(internal("binding github call log"))?,
            );
        }
        db.batch(statements)
            .await
            .map_err(internal("recording reconciliation"))?;
    }
    Ok(json!({ "checked": checked, "changed": changed }))
}
