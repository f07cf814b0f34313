//! The one error type of the API and its JSON shape, `{"error": {"code", "message", "details"?}}`.
//!
//! Every failure a client can see is an [`ApiError`] variant with a fixed HTTP status and a
//! stable machine code. Internal causes (D1 messages, upstream bodies) are logged where they
//! happen and never rendered: the `Internal` variant carries only a short context string.

use serde::Serialize;
use serde_json::Value;

/// One problem found in a request body, with the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400: the body is not JSON, or not the JSON shape the route takes.
    InvalidJson(String),
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 404: no route with this path.
    RouteNotFound,
    /// 404: the named resource does not exist.
    NotFound { resource: &'static str, id: String },
    /// 405: the path exists but not with this method.
    MethodNotAllowed { allowed: &'static [&'static str] },
    /// 409: a compare-and-set found another state than the one expected.
    StatusConflict {
        uuid: String,
        expected: String,
        actual: String,
    },
    /// 409: the first request with this `Idempotency-Key` is still being worked on.
    BatchInProgress { retry_after_secs: u32 },
    /// 404: the order has no pending task left to claim.
    NoPendingTask { order_id: String },
    /// 409: the lease token does not hold the task's live lease (wrong, outdated or expired).
    LeaseLost { uuid: String },
    /// 409: the change would make a second active follow-up of its type for the task.
    FollowupConflict { id: i64, other: i64 },
    /// 401: a GitHub webhook delivery whose signature is missing or wrong.
    InvalidSignature,
    /// 503: `GITHUB_WEBHOOK_SECRET` is not set, so no delivery can be verified.
    WebhookNotConfigured,
    /// 503: the Worker has no `REMEDIATION_QUEUE` binding.
    QueueNotConfigured,
    /// 413: the body is larger than the route accepts.
    PayloadTooLarge { limit: usize },
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: an `Idempotency-Key` was reused for a different request.
    IdempotencyKeyReused,
    /// 422: the body parsed but its values are not acceptable.
    Validation(Vec<FieldError>),
    /// 500: something on our side failed; the cause was logged, not sent.
    Internal(&'static str),
    /// 503: `/api/*` is closed because no `API_TOKEN` secret is set.
    AuthNotConfigured,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_) => 400,
            ApiError::Unauthorized | ApiError::InvalidSignature => 401,
            ApiError::RouteNotFound
            | ApiError::NotFound { .. }
            | ApiError::NoPendingTask { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::StatusConflict { .. }
            | ApiError::BatchInProgress { .. }
            | ApiError::LeaseLost { .. }
            | ApiError::FollowupConflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::IdempotencyKeyReused | ApiError::Validation(_) => 422,
            ApiError::Internal(_) => 500,
            ApiError::AuthNotConfigured
            | ApiError::WebhookNotConfigured
            | ApiError::QueueNotConfigured => 503,
        }
    }

    /// The stable machine code clients branch on; never change one once released.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Unauthorized => "unauthorized",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::StatusConflict { .. } => "status_conflict",
            ApiError::BatchInProgress { .. } => "batch_in_progress",
            ApiError::NoPendingTask { .. } => "no_pending_task",
            ApiError::LeaseLost { .. } => "lease_lost",
            ApiError::FollowupConflict { .. } => "followup_conflict",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::WebhookNotConfigured => "webhook_not_configured",
            ApiError::QueueNotConfigured => "queue_not_configured",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Internal(_) => "internal_error",
            ApiError::AuthNotConfigured => "auth_not_configured",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidJson(why) => format!("request body is not valid JSON: {why}"),
            ApiError::Unauthorized => {
                "missing or invalid bearer token: send 'Authorization: Bearer <API_TOKEN>'".into()
            }
            ApiError::RouteNotFound => "no such route".into(),
            ApiError::NotFound { resource, id } => format!("{resource} '{id}' not found"),
            ApiError::MethodNotAllowed { allowed } => {
                format!("method not allowed; allowed: {}", allowed.join(", "))
            }
            ApiError::StatusConflict {
                uuid,
                expected,
                actual,
            } => format!("task '{uuid}' is '{actual}', not the expected '{expected}'"),
            ApiError::BatchInProgress { retry_after_secs } => format!(
                "the first request with this key is still being processed; retry in \
                 {retry_after_secs} seconds for its answer"
            ),
            ApiError::NoPendingTask { order_id } => {
                format!("order '{order_id}' has no pending task left to claim")
            }
            ApiError::LeaseLost { uuid } => format!(
                "the lease token does not hold task '{uuid}': it is wrong, outdated, or the lease \
                 expired (another agent may have claimed the task since); stop working on it"
            ),
            ApiError::FollowupConflict { id, other } => format!(
                "follow-up {other} of the same type is already active for this task; close it \
                 before reopening follow-up {id}"
            ),
            ApiError::InvalidSignature => "X-Hub-Signature-256 is missing or does not match the \
                 body signed with GITHUB_WEBHOOK_SECRET"
                .into(),
            ApiError::WebhookNotConfigured => "the GITHUB_WEBHOOK_SECRET secret is not set: run \
                 'wrangler secret put GITHUB_WEBHOOK_SECRET' with the secret given to GitHub when \
                 registering the webhook"
                .into(),
            ApiError::QueueNotConfigured => "this Worker has no REMEDIATION_QUEUE binding (see \
                 wrangler.toml's [[queues.producers]])"
                .into(),
            ApiError::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            ApiError::UnsupportedMediaType => {
                "request body must be sent with 'Content-Type: application/json'".into()
            }
            ApiError::IdempotencyKeyReused => {
                "this Idempotency-Key was already used for a different request".into()
            }
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                many => format!("{} fields are invalid; see details", many.len()),
            },
            ApiError::Internal(_) => "internal error; it has been logged".into(),
            ApiError::AuthNotConfigured => "the API_TOKEN secret is not set: run \
                 'wrangler secret put API_TOKEN' (or, for local development only, set the var \
                 AUTH_MODE=\"open\")"
                .into(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::Validation(errors) => serde_json::to_value(errors).ok(),
            ApiError::StatusConflict {
                expected, actual, ..
            } => Some(serde_json::json!({ "expected_status": expected, "current_status": actual })),
            ApiError::MethodNotAllowed { allowed } => {
                Some(serde_json::json!({ "allowed": allowed }))
            }
            _ => None,
        }
    }

    /// The JSON body sent to the client.
    pub fn body(&self) -> Value {
        let mut error = serde_json::json!({ "code": self.code(), "message": self.message() });
        if let Some(details) = self.details() {
            error["details"] = details;
        }
        serde_json::json!({ "error": error })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A runtime failure (building a response, a binding) is ours: log the cause, answer 500.
impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        worker::console_error!("runtime error: {err}");
        ApiError::Internal("runtime error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_error_lists_fields_in_details() {
        let err = ApiError::Validation(vec![
            FieldError::new("factory", "is required"),
            FieldError::new("files[0].file_path", "must be relative"),
        ]);
        let body = err.body();
        assert_eq!(err.status(), 422);
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["details"][1]["field"], "files[0].file_path");
        assert_eq!(
            body["error"]["message"],
            "2 fields are invalid; see details"
        );
    }

    #[test]
    fn internal_error_never_renders_its_context() {
        let body = ApiError::Internal("d1 batch failed: secret-ish detail").body();
        let text = body.to_string();
        assert!(!text.contains("d1 batch"), "{text}");
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(body["error"].get("details").is_none());
    }

    #[test]
    fn every_variant_has_a_4xx_or_5xx_status_and_a_snake_case_code() {
        let all = [
            ApiError::InvalidJson("x".into()),
            ApiError::Unauthorized,
            ApiError::RouteNotFound,
            ApiError::NotFound {
                resource: "task",
                id: "X".into(),
            },
            ApiError::MethodNotAllowed { allowed: &["GET"] },
            ApiError::StatusConflict {
                uuid: "A".into(),
                expected: "pending".into(),
                actual: "complete".into(),
            },
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::BatchInProgress {
                retry_after_secs: 5,
            },
            ApiError::UnsupportedMediaType,
            ApiError::IdempotencyKeyReused,
            ApiError::Validation(vec![]),
            ApiError::Internal("x"),
            ApiError::AuthNotConfigured,
            ApiError::NoPendingTask {
                order_id: "O".into(),
            },
            ApiError::LeaseLost { uuid: "A".into() },
            ApiError::FollowupConflict { id: 1, other: 2 },
            ApiError::InvalidSignature,
            ApiError::WebhookNotConfigured,
            ApiError::QueueNotConfigured,
        ];
        for err in all {
            assert!((400..600).contains(&err.status()), "{err:?}");
            assert!(err
                .code()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
