//! What each MCP method answers, decided without I/O: `tools/call` comes back as the API call
//! to run, which `mcp::execute` performs.

use super::jsonrpc::{RpcError, INVALID_PARAMS, METHOD_NOT_FOUND};
use super::tools::{ApiCall, Tool};
use super::version::ProtocolVersion;
use crate::error::FieldError;
use serde_json::{json, Map, Value};

/// Told to every client at `initialize`; agents read it as their working rules.
pub const INSTRUCTIONS: &str = "Mission Control hands out coding tasks. To work one: \
next_task {order_id, agent} claims a task with a lease; keep lease.token. Do what its \
instruction says in file_path at ###placeholder###. Call heartbeat {uuid, lease_token} \
before lease.expires_at while you work. Stuck: ask_for_help. Done: complete_task {uuid, \
lease_token}; impossible: block_task {uuid, reason, lease_token}. A tool error carries the \
API's error code: lease_lost means stop, the task went back to the queue; no_pending_task \
means the order has nothing left.";

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Answer with this `result`.
    Answer(Value),
    /// Answer with this error.
    Fail(RpcError),
    /// Run this API call; its answer becomes the `tools/call` result.
    Call(ApiCall),
}

/// One request. `version` is what the transport said (header, or its absence); it decides
/// how argument errors are reported.
pub fn handle(method: &str, params: Option<&Value>, version: ProtocolVersion) -> Outcome {
    match method {
        "initialize" => initialize(params),
        "ping" => Outcome::Answer(json!({})),
        "tools/list" => Outcome::Answer(tools_list()),
        "tools/call" => tools_call(params, version),
        other => Outcome::Fail(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method not found: {other}"),
        )),
    }
}

fn initialize(params: Option<&Value>) -> Outcome {
    let Some(requested) = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
    else {
        return Outcome::Fail(RpcError::new(
            INVALID_PARAMS,
            "initialize needs params.protocolVersion (a string)",
        ));
    };
    let version = ProtocolVersion::negotiate(requested);
    Outcome::Answer(json!({
        "protocolVersion": version.as_str(),
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": {
            "name": "mission-control",
            "title": "Mission Control",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": INSTRUCTIONS,
    }))
}

/// Every tool on one page: there are few, so `cursor` is never needed.
pub fn tools_list() -> Value {
    json!({ "tools": Tool::ALL.map(Tool::definition) })
}

fn tools_call(params: Option<&Value>, version: ProtocolVersion) -> Outcome {
    let invalid = |message: String| Outcome::Fail(RpcError::new(INVALID_PARAMS, message));
    let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return invalid("tools/call needs params.name (a string)".into());
    };
    let Some(tool) = Tool::from_name(name) else {
        let names = Tool::ALL.map(Tool::name).join(", ");
        return invalid(format!("unknown tool: {name}; tools: {names}"));
    };
    let empty = Map::new();
    let arguments = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(arguments)) => arguments,
        Some(_) => return invalid("params.arguments must be an object".into()),
    };
    match tool.prepare(arguments) {
        Ok(call) => Outcome::Call(call),
        Err(errors) => argument_errors(tool, errors, version),
    }
}

/// Arguments that do not fit the tool's input schema: a `-32602` up to 2025-06-18; from
/// 2025-11-25 a tool result with `isError` in the API's 422 shape, so the model can retry.
fn argument_errors(tool: Tool, errors: Vec<FieldError>, version: ProtocolVersion) -> Outcome {
    let message = format!(
        "invalid arguments for {}: {}",
        tool.name(),
        errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if version.argument_errors_are_tool_results() {
        let body = json!({ "error": {
            "code": "validation_failed",
            "message": message,
            "details": errors,
        }});
        Outcome::Answer(json!({
            "content": [{ "type": "text", "text": body.to_string() }],
            "structuredContent": body,
            "isError": true,
        }))
    } else {
        Outcome::Fail(
            RpcError::new(INVALID_PARAMS, message).with_data(json!({ "details": errors })),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::tools::ApiMethod;

    const V: ProtocolVersion = ProtocolVersion::V2025_06_18;

    fn answer(outcome: Outcome) -> Value {
        match outcome {
            Outcome::Answer(value) => value,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn error_code(outcome: Outcome) -> i64 {
        match outcome {
            Outcome::Fail(err) => err.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn initialize_negotiates_and_describes_the_server() {
        for requested in ["2025-03-26", "2025-06-18", "2025-11-25"] {
            let result = answer(handle(
                "initialize",
                Some(&json!({"protocolVersion": requested, "capabilities": {}})),
                V,
            ));
            assert_eq!(result["protocolVersion"], requested);
        }
        let result = answer(handle(
            "initialize",
            Some(&json!({"protocolVersion": "2024-11-05"})),
            V,
        ));
        assert_eq!(result["protocolVersion"], "2025-11-25");
        assert_eq!(result["serverInfo"]["name"], "mission-control");
        assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(result["capabilities"]["tools"].is_object());
        assert!(result["instructions"]
            .as_str()
            .unwrap()
            .contains("next_task"));
        assert_eq!(error_code(handle("initialize", None, V)), INVALID_PARAMS);
        assert_eq!(
            error_code(handle(
                "initialize",
                Some(&json!({"protocolVersion": 1})),
                V
            )),
            INVALID_PARAMS
        );
    }

    #[test]
    fn ping_unknown_methods_and_the_tool_list() {
        assert_eq!(answer(handle("ping", None, V)), json!({}));
        assert_eq!(
            error_code(handle("resources/list", None, V)),
            METHOD_NOT_FOUND
        );
        let list = answer(handle("tools/list", None, V));
        let names: Vec<&str> = list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "next_task",
                "get_task",
                "list_tasks",
                "heartbeat",
                "complete_task",
                "block_task",
                "ask_for_help"
            ]
        );
    }

    #[test]
    fn the_tool_list_stays_under_6_kb() {
        // The answer an agent's context pays for on every connection.
        let size = tools_list().to_string().len();
        assert!(size < 6 * 1024, "tools/list is {size} bytes");
    }

    #[test]
    fn tools_call_params_and_arguments() {
        let call = |params: Value, v| handle("tools/call", Some(&params), v);
        match call(
            json!({"name": "get_task", "arguments": {"uuid": "ABC123"}}),
            V,
        ) {
            Outcome::Call(api) => assert_eq!(
                (api.method, api.path.as_str()),
                (ApiMethod::Get, "/api/task/ABC123")
            ),
            other => panic!("{other:?}"),
        }
        for bad in [
            json!({}),
            json!({"name": 1}),
            json!({"name": "nope", "arguments": {}}),
            json!({"name": "get_task", "arguments": [1]}),
        ] {
            for v in ProtocolVersion::ALL {
                assert_eq!(error_code(call(bad.clone(), v)), INVALID_PARAMS, "{bad}");
            }
        }
        // schema mismatch: protocol error before 2025-11-25, tool error from it on
        let missing = json!({"name": "get_task", "arguments": {}});
        for v in [ProtocolVersion::V2025_03_26, ProtocolVersion::V2025_06_18] {
            assert_eq!(error_code(call(missing.clone(), v)), INVALID_PARAMS);
        }
        let result = answer(call(missing, ProtocolVersion::V2025_11_25));
        assert_eq!(result["isError"], true);
        assert_eq!(
            result["structuredContent"]["error"]["code"],
            "validation_failed"
        );
        assert_eq!(
            result["structuredContent"]["error"]["details"][0]["field"],
            "uuid"
        );
    }
}
