//! `GET /api/tasks/:order_id`, `GET /api/task/:uuid`, `POST /api/task/:uuid/status`.

use crate::domain::ids::is_plausible_id;
use crate::domain::lease::{optional_lease_token, refusal, Refusal};
use crate::domain::status::TaskStatus;
use crate::domain::validate::{body_object, kind, Checker};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json};
use crate::store::tasks::{self, StatusChange, StatusRequest};
use crate::store::Db;
use serde_json::{json, Map, Value};
use worker::{Request, Response};

/// A status body is a few dozen bytes; anything near this is not one.
const MAX_STATUS_BODY: usize = 4 * 1024;

fn task_not_found(uuid: &str) -> ApiError {
    ApiError::NotFound {
        resource: "task",
        id: uuid.to_owned(),
    }
}

/// The order's tasks as D1 built them. `If-None-Match` with the answer's `ETag` gets a 304: a
/// factory polling an unchanged list skips the body, and the read still happens, so a 304 never
/// hides a write.
pub async fn list_for_order(req: &Request, db: &Db, order_id: &str) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound {
        resource: "order",
        id: order_id.to_owned(),
    };
    if !is_plausible_id(order_id) {
        return Err(not_found());
    }
    let body = tasks::order_tasks_json(db, order_id)
        .await?
        .ok_or_else(not_found)?;
    let if_none_match = req.headers().get("if-none-match").ok().flatten();
    Ok(body.response_with_etag(if_none_match.as_deref()).await?)
}

pub async fn get(db: &Db, uuid: &str) -> ApiResult<Response> {
    if !is_plausible_id(uuid) {
        return Err(task_not_found(uuid));
    }
    let body = tasks::task_json(db, uuid)
        .await?
        .ok_or_else(|| task_not_found(uuid))?;
    Ok(body.response(200)?)
}

pub async fn set_status(req: &mut Request, db: &Db, uuid: &str) -> ApiResult<Response> {
    let body = read_json(req, MAX_STATUS_BODY).await?;
    let change = parse_status_change(&body)?;
    if !is_plausible_id(uuid) {
        return Err(task_not_found(uuid));
    }
    let request = StatusRequest {
        to: change.to,
        expected: change.expected,
        lease_token: change.lease_token,
        note: change.note.as_deref(),
    };
    match tasks::set_status(db, uuid, request).await? {
        StatusChange::Changed { previous } => http::json(
            200,
            &json!({ "uuid": uuid, "status": change.to, "previous_status": previous }),
        ),
        StatusChange::NotFound => Err(task_not_found(uuid)),
        StatusChange::Refused { state } => Err(match refusal(&state, change.lease_token) {
            Refusal::LeaseLost => ApiError::LeaseLost {
                uuid: uuid.to_owned(),
            },
            Refusal::StatusConflict => ApiError::StatusConflict {
                uuid: uuid.to_owned(),
                expected: change
                    .expected
                    .map(TaskStatus::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                actual: state
                    .status
                    .map_or_else(|| "null".into(), |status| status.as_str().to_owned()),
            },
        }),
    }
}

/// A validated status body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusBody {
    pub to: TaskStatus,
    pub expected: Option<TaskStatus>,
    pub lease_token: Option<i64>,
    pub note: Option<String>,
}

/// A note is a line or two for the log, not a report.
const MAX_NOTE: usize = 2000;

/// `{status, expected_status?, lease_token?, note?}`, both statuses one of the four task states.
pub fn parse_status_change(body: &Value) -> ApiResult<StatusBody> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let to = status_field(&mut check, obj, "status", true);
    let expected = status_field(&mut check, obj, "expected_status", false);
    let lease_token = optional_lease_token(&mut check, obj);
    let note = check.optional_str(obj, "note", "note", MAX_NOTE);
    check.finish()?;
    Ok(StatusBody {
        to: to.ok_or(ApiError::Internal("status missing after validation"))?,
        expected,
        lease_token,
        note: note.map(str::to_owned),
    })
}

fn status_field(
    check: &mut Checker,
    obj: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Option<TaskStatus> {
    let allowed = TaskStatus::allowed_list();
    match obj.get(key) {
        None | Some(Value::Null) => {
            if required {
                check.fail(key, format!("is required; one of {allowed}"));
            }
            None
        }
        Some(Value::String(s)) => TaskStatus::parse(s).or_else(|| {
            check.fail(key, format!("'{s}' is not a task status; one of {allowed}"));
            None
        }),
        Some(other) => {
            check.fail(
                key,
                format!("must be a string, not {}; one of {allowed}", kind(other)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies() {
        let parsed = parse_status_change(&json!({"status": "complete"})).unwrap();
        assert_eq!((parsed.to, parsed.expected), (TaskStatus::Complete, None));
        let parsed =
            parse_status_change(&json!({"status": "in_progress", "expected_status": "pending"}))
                .unwrap();
        assert_eq!(
            (parsed.to, parsed.expected),
            (TaskStatus::InProgress, Some(TaskStatus::Pending))
        );
        let parsed =
            parse_status_change(&json!({"status": "complete", "lease_token": 7, "note": "ok"}))
                .unwrap();
        assert_eq!(
            (parsed.lease_token, parsed.note.as_deref()),
            (Some(7), Some("ok"))
        );
        assert!(parse_status_change(&json!({"status": "complete", "lease_token": "7"})).is_err());
        let Err(ApiError::Validation(errors)) = parse_status_change(&json!({"status": "done"}))
        else {
            panic!("accepted 'done'")
        };
        assert!(errors[0]
            .message
            .contains("pending, in_progress, complete, blocked"));
        assert!(parse_status_change(&json!({})).is_err());
        assert!(parse_status_change(&json!({"status": 1})).is_err());
        assert!(
            parse_status_change(&json!({"status": "pending", "expected_status": "x"})).is_err()
        );
    }
}
