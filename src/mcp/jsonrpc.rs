//! JSON-RPC 2.0 as MCP uses it: telling requests, notifications and responses apart, and
//! writing answers. Pure: no I/O.

use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// One incoming message, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Expects an answer carrying the same `id`.
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// Expects no answer at all, whatever its method.
    Notification { method: String },
    /// A client's answer to a server request. This server sends none, so it is accepted and
    /// dropped.
    Response,
}

/// Why a message is not one: the error and the `id` to answer it with (`null` when the
/// message had none we could use).
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub id: Value,
    pub reason: &'static str,
}

impl Invalid {
    pub fn error(&self) -> RpcError {
        RpcError::new(INVALID_REQUEST, format!("invalid request: {}", self.reason))
    }
}

/// MCP narrows JSON-RPC ids to strings and numbers (never `null`).
fn usable_id(id: &Value) -> bool {
    matches!(id, Value::String(_) | Value::Number(_))
}

pub fn classify(value: &Value) -> Result<Message, Invalid> {
    let invalid = |id: Value, reason: &'static str| Invalid { id, reason };
    let Some(obj) = value.as_object() else {
        return Err(invalid(Value::Null, "a message must be a JSON object"));
    };
    let id = obj.get("id");
    let answer_id = id
        .filter(|id| usable_id(id))
        .cloned()
        .unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(answer_id, "\"jsonrpc\" must be \"2.0\""));
    }
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = obj.get("params");
            if params.is_some_and(|p| !p.is_object()) {
                return Err(invalid(answer_id, "\"params\" must be an object"));
            }
            match id {
                None => Ok(Message::Notification {
                    method: method.clone(),
                }),
                Some(id) if usable_id(id) => Ok(Message::Request {
                    id: id.clone(),
                    method: method.clone(),
                    params: params.cloned(),
                }),
                Some(_) => Err(invalid(Value::Null, "\"id\" must be a string or a number")),
            }
        }
        Some(_) => Err(invalid(answer_id, "\"method\" must be a string")),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            Ok(Message::Response)
        }
        None => Err(invalid(answer_id, "\"method\" is missing")),
    }
}

pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn failure(id: &Value, error: &RpcError) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), json!(error.code));
    body.insert("message".into(), json!(error.message));
    if let Some(data) = &error.data {
        body.insert("data".into(), data.clone());
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_responses() {
        assert_eq!(
            classify(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            Ok(Message::Request {
                id: json!(1),
                method: "ping".into(),
                params: None
            })
        );
        assert_eq!(
            classify(&json!({"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {}})),
            Ok(Message::Request {
                id: json!("a"),
                method: "tools/list".into(),
                params: Some(json!({}))
            })
        );
        assert_eq!(
            classify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            Ok(Message::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            classify(&json!({"jsonrpc": "2.0", "id": 7, "result": {}})),
            Ok(Message::Response)
        );
        assert_eq!(
            classify(&json!({"jsonrpc": "2.0", "id": 7, "error": {"code": 1, "message": "x"}})),
            Ok(Message::Response)
        );
    }

    #[test]
    fn invalid_messages_are_32600_with_the_id_when_usable() {
        let cases = [
            (json!([1]), Value::Null),
            (json!("ping"), Value::Null),
            (json!({"id": 1, "method": "ping"}), json!(1)),
            (
                json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
                json!(1),
            ),
            (json!({"jsonrpc": "2.0", "id": 2, "method": 5}), json!(2)),
            (json!({"jsonrpc": "2.0", "id": 3}), json!(3)),
            (
                json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
                Value::Null,
            ),
            (
                json!({"jsonrpc": "2.0", "id": true, "method": "ping"}),
                Value::Null,
            ),
            (
                json!({"jsonrpc": "2.0", "id": 4, "method": "ping", "params": [1]}),
                json!(4),
            ),
        ];
        for (message, id) in cases {
            let err = classify(&message).expect_err(&message.to_string());
            assert_eq!(err.error().code, INVALID_REQUEST, "{message}");
            assert_eq!(err.id, id, "{message}");
        }
    }

    #[test]
    fn answers_have_the_json_rpc_shape() {
        assert_eq!(
            success(&json!(1), json!({})),
            json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        );
        assert_eq!(
            failure(&Value::Null, &RpcError::new(PARSE_ERROR, "bad")),
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "bad"}})
        );
        let with_data = RpcError::new(INVALID_PARAMS, "x").with_data(json!({"k": 1}));
        assert_eq!(
            failure(&json!("i"), &with_data)["error"]["data"],
            json!({"k": 1})
        );
    }
}
