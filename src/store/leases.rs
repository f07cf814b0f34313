//! Task leases in D1: the atomic next-task claim, the heartbeat and the sweep of expired leases.
//!
//! Every "at most one" here is one conditional statement: the claim picks the oldest pending
//! task and flips it in the same `UPDATE`, so two agents asking at once never get the same task.

use super::tasks::{TaskRow, LEASE_LIVE, TASK_COLUMNS};
use super::Db;
use super::{batch_shared, changes, int, rows, text};
use crate::domain::lease::{ClaimRequest, HeartbeatRequest};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// A lease as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub token: i64,
    pub agent: String,
    pub expires_at: String,
}

pub enum Claim {
    Claimed { task: Box<TaskRow>, lease: Lease },
    NoPendingTask,
    UnknownOrder,
}

/// The oldest pending task of the order (?1); the log row and the update pick it with the same
/// subquery inside one batch, so they name the same task.
const NEXT_PENDING: &str =
    "(SELECT uuid FROM tasks WHERE order_id = ?1 AND status = 'pending' ORDER BY rowid LIMIT 1)";

#[derive(Deserialize)]
struct Found {
    #[allow(dead_code)]
    found: i64,
}

/// Claims the order's oldest pending task for `agent` (?2) for `lease_seconds` (?3).
pub async fn claim_next(db: &Db, order_id: &str, claim: &ClaimRequest) -> Result<Claim, ApiError> {
    let order = "SELECT 1 AS found FROM orders WHERE id = ?1";
    let log = format!(
        "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
         SELECT 'orchestrator', order_id, uuid, 'task_claimed', 'info', \
                json_object('agent', ?2, 'lease_token', COALESCE(lease_token, 0) + 1, \
                            'lease_seconds', CAST(?3 AS INTEGER)) \
         FROM tasks WHERE uuid = {NEXT_PENDING}"
    );
    let update = format!(
        "UPDATE tasks SET status = 'in_progress', claimed_by = ?2, \
           lease_expires_at = datetime('now', '+' || ?3 || ' seconds'), \
           lease_token = COALESCE(lease_token, 0) + 1, blocked_by = NULL, \
           updated_at = CURRENT_TIMESTAMP \
         WHERE uuid = {NEXT_PENDING} AND status = 'pending' \
         RETURNING {TASK_COLUMNS}"
    );
    let params = [
        text(order_id),
        text(&claim.agent),
        int(i64::from(claim.lease_seconds)),
    ];
    let [order, _, update] = batch_shared(
        db,
        [order, log.as_str(), update.as_str()],
        &params,
        "claiming a task",
    )
    .await?;
    if rows::<Found>(&order, "decoding order lookup")?.is_empty() {
        return Ok(Claim::UnknownOrder);
    }
    let Some(task) = rows::<TaskRow>(&update, "decoding claimed task")?
        .into_iter()
        .next()
    else {
        return Ok(Claim::NoPendingTask);
    };
    let lease = lease_of(&task).ok_or(ApiError::Internal("claimed task without a lease"))?;
    Ok(Claim::Claimed {
        task: Box::new(task),
        lease,
    })
}

fn lease_of(task: &TaskRow) -> Option<Lease> {
    Some(Lease {
        token: task.lease_token?,
        agent: task.claimed_by.clone()?,
        expires_at: task.lease_expires_at.clone()?,
    })
}

pub enum Heartbeat {
    Extended(Lease),
    UnknownTask,
    LeaseLost,
}

#[derive(Deserialize)]
struct LeaseRow {
    lease_token: i64,
    claimed_by: String,
    lease_expires_at: String,
}

/// Extends a live lease held by `lease_token` to `lease_seconds` from now.
pub async fn heartbeat(db: &Db, uuid: &str, beat: HeartbeatRequest) -> Result<Heartbeat, ApiError> {
    let task = "SELECT 1 AS found FROM tasks WHERE uuid = ?1";
    let extend = format!(
        "UPDATE tasks SET lease_expires_at = datetime('now', '+' || ?3 || ' seconds') \
         WHERE uuid = ?1 AND status = 'in_progress' AND lease_token = ?2 AND {LEASE_LIVE} \
         RETURNING lease_token, claimed_by, lease_expires_at"
    );
    let params = [
        text(uuid),
        int(beat.lease_token),
        int(i64::from(beat.lease_seconds)),
    ];
    let [task, extend] =
        batch_shared(db, [task, extend.as_str()], &params, "extending a lease").await?;
    if rows::<Found>(&task, "decoding task lookup")?.is_empty() {
        return Ok(Heartbeat::UnknownTask);
    }
    Ok(
        match rows::<LeaseRow>(&extend, "decoding lease")?
            .into_iter()
            .next()
        {
            Some(row) => Heartbeat::Extended(Lease {
                token: row.lease_token,
                agent: row.claimed_by,
                expires_at: row.lease_expires_at,
            }),
            None => Heartbeat::LeaseLost,
        },
    )
}

/// Expired leases handled per run at most, so one run stays within Workers' limits however
/// many agents died at once; the rest wait a minute for the next run.
pub const SWEEP_BATCH: i64 = 500;

/// The expired leases of this run (?1: how many at most), oldest expiry first.
const EXPIRED: &str = "(SELECT uuid FROM tasks WHERE lease_expires_at <= datetime('now') \
     AND status = 'in_progress' ORDER BY lease_expires_at LIMIT ?1)";

/// Returns every `in_progress` task whose lease expired to `pending`, clears its claim and logs
/// `lease_expired` with the agent and token. Returns how many tasks were returned.
pub async fn sweep_expired(db: &Db) -> Result<usize, ApiError> {
    let log = format!(
        "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) \
         SELECT 'orchestrator', order_id, uuid, 'lease_expired', 'warn', \
                json_object('agent', claimed_by, 'lease_token', lease_token, \
                            'expired_at', lease_expires_at) \
         FROM tasks WHERE uuid IN {EXPIRED}"
    );
    let update = format!(
        "UPDATE tasks SET status = 'pending', claimed_by = NULL, lease_expires_at = NULL, \
           updated_at = CURRENT_TIMESTAMP \
         WHERE uuid IN {EXPIRED}"
    );
    let params = [int(SWEEP_BATCH)];
    let [_, update] = batch_shared(
        db,
        [log.as_str(), update.as_str()],
        &params,
        "sweeping expired leases",
    )
    .await?;
    Ok(changes(&update))
}
