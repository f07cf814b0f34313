//! Leases: the bodies of the next-task claim and the heartbeat, and the rule that decides
//! what a refused status change was refused for.
//!
//! A lease is a claim that expires. Each claim of a task takes a fencing token one larger than
//! the task's last one, so a token identifies one claim for ever: an agent whose lease expired
//! and whose task another agent claimed since cannot change the task with its old token.

use super::status::{StoredStatus, TaskStatus};
use super::validate::{body_object, kind, Checker};
use crate::error::ApiResult;
use serde_json::{Map, Value};

pub const DEFAULT_LEASE_SECONDS: u32 = 900;
pub const MIN_LEASE_SECONDS: u32 = 30;
pub const MAX_LEASE_SECONDS: u32 = 86_400;
pub const MAX_AGENT: usize = 128;

/// `POST /api/orders/:order_id/next` `{agent, lease_seconds?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub agent: String,
    pub lease_seconds: u32,
}

/// `POST /api/task/:uuid/heartbeat` `{lease_token, lease_seconds?}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub lease_token: i64,
    pub lease_seconds: u32,
}

pub fn parse_claim(body: &Value) -> ApiResult<ClaimRequest> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let agent = check.required_str(obj, "agent", "agent", MAX_AGENT);
    let lease_seconds = lease_seconds(&mut check, obj);
    check.finish()?;
    Ok(ClaimRequest {
        agent: agent.expect("agent checked above").trim().to_owned(),
        lease_seconds,
    })
}

pub fn parse_heartbeat(body: &Value) -> ApiResult<HeartbeatRequest> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let token = match obj.get("lease_token") {
        None | Some(Value::Null) => {
            check.fail("lease_token", "is required");
            None
        }
        Some(value) => lease_token_value(&mut check, value),
    };
    let lease_seconds = lease_seconds(&mut check, obj);
    check.finish()?;
    Ok(HeartbeatRequest {
        lease_token: token.expect("lease_token checked above"),
        lease_seconds,
    })
}

/// An optional `lease_token` (status changes accept one).
pub fn optional_lease_token(check: &mut Checker, obj: &Map<String, Value>) -> Option<i64> {
    match obj.get("lease_token") {
        None | Some(Value::Null) => None,
        Some(value) => lease_token_value(check, value),
    }
}

fn lease_token_value(check: &mut Checker, value: &Value) -> Option<i64> {
    match value.as_i64() {
        Some(n) if n > 0 => Some(n),
        _ => {
            check.fail(
                "lease_token",
                format!(
                    "must be a positive integer (the token the claim returned), not {}",
                    describe(value)
                ),
            );
            None
        }
    }
}

fn lease_seconds(check: &mut Checker, obj: &Map<String, Value>) -> u32 {
    let range = MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS;
    match obj.get("lease_seconds") {
        None | Some(Value::Null) => DEFAULT_LEASE_SECONDS,
        Some(value) => match value.as_u64() {
            Some(n) if range.contains(&(n.min(u64::from(u32::MAX)) as u32)) => n as u32,
            _ => {
                check.fail(
                    "lease_seconds",
                    format!(
                        "must be an integer from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS}, not {}",
                        describe(value)
                    ),
                );
                DEFAULT_LEASE_SECONDS
            }
        },
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

/// The task as a refused status change found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLeaseState {
    pub status: Option<StoredStatus>,
    pub lease_token: Option<i64>,
    /// A claimant is recorded and the lease has not expired.
    pub lease_live: bool,
}

/// Why a compare-and-set status change wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The change named a lease token that does not hold the live lease.
    LeaseLost,
    /// `expected_status` did not match.
    StatusConflict,
}

/// Whether `token` holds the live lease of a task in `state`.
pub fn holds_lease(state: &TaskLeaseState, token: i64) -> bool {
    state.lease_live
        && state.lease_token == Some(token)
        && state
            .status
            .as_ref()
            .is_some_and(|status| status.is(TaskStatus::InProgress))
}

/// A refused change is refused for its lease first: an agent that lost its lease must stop,
/// whatever the status.
pub fn refusal(state: &TaskLeaseState, token: Option<i64>) -> Refusal {
    match token {
        Some(token) if !holds_lease(state, token) => Refusal::LeaseLost,
        _ => Refusal::StatusConflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::json;

    fn field_errors(result: ApiResult<impl std::fmt::Debug>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn claims() {
        let claim = parse_claim(&json!({"agent": "a@host"})).unwrap();
        assert_eq!(claim.lease_seconds, DEFAULT_LEASE_SECONDS);
        assert_eq!(
            parse_claim(&json!({"agent": "a", "lease_seconds": 30}))
                .unwrap()
                .lease_seconds,
            30
        );
        assert_eq!(field_errors(parse_claim(&json!({}))), ["agent"]);
        for bad in [json!(29), json!(86_401), json!(-5), json!(1.5), json!("60")] {
            assert_eq!(
                field_errors(parse_claim(&json!({"agent": "a", "lease_seconds": bad}))),
                ["lease_seconds"]
            );
        }
    }

    #[test]
    fn heartbeats() {
        let beat = parse_heartbeat(&json!({"lease_token": 3, "lease_seconds": 60})).unwrap();
        assert_eq!((beat.lease_token, beat.lease_seconds), (3, 60));
        assert_eq!(field_errors(parse_heartbeat(&json!({}))), ["lease_token"]);
        assert_eq!(
            field_errors(parse_heartbeat(&json!({"lease_token": "3"}))),
            ["lease_token"]
        );
        assert_eq!(
            field_errors(parse_heartbeat(&json!({"lease_token": 0}))),
            ["lease_token"]
        );
    }

    #[test]
    fn refusals_name_the_lost_lease_first() {
        let live = TaskLeaseState {
            status: Some(TaskStatus::InProgress.into()),
            lease_token: Some(4),
            lease_live: true,
        };
        assert!(holds_lease(&live, 4));
        assert!(!holds_lease(&live, 3), "an outdated token");
        let expired = TaskLeaseState {
            lease_live: false,
            ..live.clone()
        };
        assert!(!holds_lease(&expired, 4));
        assert_eq!(refusal(&expired, Some(4)), Refusal::LeaseLost);
        assert_eq!(refusal(&live, Some(4)), Refusal::StatusConflict);
        assert_eq!(refusal(&expired, None), Refusal::StatusConflict);
    }
}
