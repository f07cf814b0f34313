//! A factory's error batch (`POST /api/factory/errors`), validated whole before anything is
//! written.

use super::oplog::{json_object_field, MAX_ID};
use super::validate::{body_object, kind, Checker};
use crate::error::ApiResult;
use serde::Serialize;
use serde_json::Value;

/// As many as an order has tasks: the original factory script sends all its errors in one request.
pub const MAX_BATCH: usize = 2000;
const MAX_FACTORY: usize = 100;
/// Generous: the path is what the factory saw, which may be odd (that may be the error).
const MAX_FILE_PATH: usize = 1024;
const MAX_PLACEHOLDER: usize = 200;
const MAX_MESSAGE: usize = 4000;
const MAX_BATCH_ID: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FileNotFound,
    PlaceholderNotFound,
    InjectFailed,
    Unknown,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 4] = [
        ErrorCode::FileNotFound,
        ErrorCode::PlaceholderNotFound,
        ErrorCode::InjectFailed,
        ErrorCode::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::PlaceholderNotFound => "PLACEHOLDER_NOT_FOUND",
            ErrorCode::InjectFailed => "INJECT_FAILED",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One reported error, as the TypeScript original's `ErrorItem`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorItem {
    pub order_id: String,
    pub factory: String,
    pub file_path: String,
    pub placeholder: Option<String>,
    pub task_uuid: Option<String>,
    pub error_code: ErrorCode,
    pub message: String,
    /// Serialised JSON object, `{}` when absent.
    pub context: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBatch {
    pub batch_id: Option<String>,
    pub items: Vec<ErrorItem>,
}

impl ErrorBatch {
    /// The canonical form that an idempotency key is tied to.
    pub fn canonical(&self) -> String {
        serde_json::to_string(&self.items).unwrap_or_default()
    }
}

pub fn parse_error_batch(body: &Value) -> ApiResult<ErrorBatch> {
    let obj = body_object(body)?;
    let mut check = Checker::new();
    let batch_id = match obj.get("batch_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_BATCH_ID
                && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Some(s.clone())
        }
        Some(_) => {
            check.fail(
                "batch_id",
                format!("must be 1 to {MAX_BATCH_ID} visible ASCII characters"),
            );
            None
        }
    };
    let mut items = Vec::new();
    match obj.get("errors") {
        Some(Value::Array(list)) if list.is_empty() => check.fail("errors", "must not be empty"),
        Some(Value::Array(list)) if list.len() > MAX_BATCH => check.fail(
            "errors",
            format!("holds {} items; at most {MAX_BATCH} per batch", list.len()),
        ),
        Some(Value::Array(list)) => {
            for (i, value) in list.iter().enumerate() {
                if let Some(item) = parse_item(&mut check, i, value) {
                    items.push(item);
                }
            }
        }
        None | Some(Value::Null) => check.fail("errors", "is required"),
        Some(other) => check.fail("errors", format!("must be an array, not {}", kind(other))),
    }
    check.finish()?;
    Ok(ErrorBatch { batch_id, items })
}

fn parse_item(check: &mut Checker, i: usize, value: &Value) -> Option<ErrorItem> {
    let at = |field: &str| format!("errors[{i}].{field}");
    let Some(obj) = value.as_object() else {
        check.fail(
            format!("errors[{i}]"),
            format!("must be an object, not {}", kind(value)),
        );
        return None;
    };
    let order_id = check.required_str(obj, "order_id", &at("order_id"), MAX_ID);
    let factory = check.required_str(obj, "factory", &at("factory"), MAX_FACTORY);
    let file_path = check.required_str(obj, "file_path", &at("file_path"), MAX_FILE_PATH);
    let placeholder = check.optional_str(obj, "placeholder", &at("placeholder"), MAX_PLACEHOLDER);
    let task_uuid = check.optional_str(obj, "task_uuid", &at("task_uuid"), MAX_ID);
    let allowed = || {
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let error_code = match obj.get("error_code") {
        Some(Value::String(s)) => ErrorCode::parse(s).or_else(|| {
            check.fail(
                at("error_code"),
                format!("'{s}' is not an error code; one of {}", allowed()),
            );
            None
        }),
        None | Some(Value::Null) => {
            check.fail(
                at("error_code"),
                format!("is required; one of {}", allowed()),
            );
            None
        }
        Some(other) => {
            check.fail(
                at("error_code"),
                format!("must be a string, not {}", kind(other)),
            );
            None
        }
    };
    let message = check.required_str(obj, "message", &at("message"), MAX_MESSAGE);
    let context = json_object_field(check, obj, "context", &at("context"));
    Some(ErrorItem {
        order_id: order_id?.to_owned(),
        factory: factory?.to_owned(),
        file_path: file_path?.to_owned(),
        placeholder: placeholder.map(strip_marker),
        task_uuid: task_uuid.map(str::to_owned),
        error_code: error_code?,
        message: message?.to_owned(),
        context: context.unwrap_or_else(|| "{}".to_owned()),
    })
}

/// Factories report either `NAME` or `###NAME###`; tasks store `NAME`.
fn strip_marker(placeholder: &str) -> String {
    placeholder
        .strip_prefix("###")
        .and_then(|p| p.strip_suffix("###"))
        .filter(|p| !p.is_empty())
        .unwrap_or(placeholder)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use serde_json::json;

    fn item() -> Value {
        json!({
            "order_id": "ORD-abc123", "factory": "f", "file_path": "src/a.ts",
            "placeholder": "###P###", "task_uuid": "ABC123",
            "error_code": "FILE_NOT_FOUND", "message": "gone"
        })
    }

    #[test]
    fn a_good_batch() {
        let batch = parse_error_batch(&json!({"errors": [item()], "batch_id": "k1"})).unwrap();
        assert_eq!(batch.batch_id.as_deref(), Some("k1"));
        let got = &batch.items[0];
        assert_eq!(got.placeholder.as_deref(), Some("P"));
        assert_eq!(got.error_code, ErrorCode::FileNotFound);
        assert_eq!(got.context, "{}");
    }

    #[test]
    fn every_problem_is_named_with_its_index() {
        let mut bad = item();
        bad["error_code"] = json!("NOPE");
        bad["context"] = json!("text");
        let Err(ApiError::Validation(errors)) =
            parse_error_batch(&json!({"errors": [item(), bad, 3]}))
        else {
            panic!("accepted")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["errors[1].error_code", "errors[1].context", "errors[2]"]
        );
    }

    #[test]
    fn batch_bounds() {
        assert!(parse_error_batch(&json!({"errors": []})).is_err());
        assert!(parse_error_batch(&json!({})).is_err());
        let many: Vec<Value> = (0..=MAX_BATCH).map(|_| item()).collect();
        assert!(parse_error_batch(&json!({ "errors": many })).is_err());
        let max: Vec<Value> = (0..MAX_BATCH).map(|_| item()).collect();
        assert!(parse_error_batch(&json!({ "errors": max })).is_ok());
        assert!(parse_error_batch(&json!({"errors": [item()], "batch_id": "a b"})).is_err());
    }
}
