//! Walking a JSON body field by field, collecting every problem with its path.
//!
//! Bodies are parsed to `serde_json::Value` first and checked here, rather than derived with
//! serde, so a client learns about all of its mistakes at once and each names its field.

use crate::error::{ApiError, FieldError};
use serde_json::{Map, Value};

#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Ok when nothing failed, else the 422 listing every problem.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }

    /// A required string of 1..=max characters (after trimming whitespace for the emptiness test).
    pub fn required_str<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
        max_chars: usize,
    ) -> Option<&'v str> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.fail(path, "is required");
                None
            }
            Some(value) => self.string_value(value, path, max_chars),
        }
    }

    /// An optional string; `null` counts as absent.
    pub fn optional_str<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
        max_chars: usize,
    ) -> Option<&'v str> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string_value(value, path, max_chars),
        }
    }

    fn string_value<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        max_chars: usize,
    ) -> Option<&'v str> {
        let Some(s) = value.as_str() else {
            self.fail(path, format!("must be a string, not {}", kind(value)));
            return None;
        };
        if s.trim().is_empty() {
            self.fail(path, "must not be empty");
            return None;
        }
        if s.chars().count() > max_chars {
            self.fail(path, format!("must be at most {max_chars} characters"));
            return None;
        }
        Some(s)
    }
}

/// The body as an object, or the 422 that says it must be one.
pub fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::Validation(vec![FieldError::new("body", "must be a JSON object")]))
}

/// The JSON type name of a value, for "must be a string, not a number".
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_problem_with_its_path() {
        let body = json!({"a": 1, "b": "  ", "c": "toolong"});
        let mut check = Checker::new();
        let obj = body_object(&body).unwrap();
        assert_eq!(check.required_str(obj, "a", "a", 10), None);
        assert_eq!(check.required_str(obj, "b", "b", 10), None);
        assert_eq!(check.required_str(obj, "c", "c", 3), None);
        assert_eq!(check.required_str(obj, "d", "d", 3), None);
        assert_eq!(check.optional_str(obj, "e", "e", 3), None);
        let Err(ApiError::Validation(errors)) = check.finish() else {
            panic!("expected a validation error")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c", "d"]);
        assert_eq!(errors[0].message, "must be a string, not a number");
        assert_eq!(errors[3].message, "is required");
    }

    #[test]
    fn non_object_body_is_named() {
        let Err(ApiError::Validation(errors)) = body_object(&json!([1])) else {
            panic!("array accepted as object")
        };
        assert_eq!(errors[0].field, "body");
    }
}
