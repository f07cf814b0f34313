//! The tool table: each tool's parameters (from which its `inputSchema` is written and its
//! arguments checked, so the two cannot drift apart), its `outputSchema`, and the HTTP API
//! call it stands for. Pure: running the call is `mcp::execute`'s job.

use crate::domain::status::TaskStatus;
use crate::error::FieldError;
use crate::http::path_segment;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    NextTask,
    GetTask,
    ListTasks,
    Heartbeat,
    CompleteTask,
    BlockTask,
    AskForHelp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A non-empty string.
    Text,
    Integer,
    /// One of the four task states.
    Status,
}

struct Param {
    name: &'static str,
    kind: Kind,
    required: bool,
    about: &'static str,
}

const fn required(name: &'static str, kind: Kind, about: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        about,
    }
}

const fn optional(name: &'static str, kind: Kind, about: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        about,
    }
}

const UUID: Param = required("uuid", Kind::Text, "Task id");
const ORDER_ID: Param = required("order_id", Kind::Text, "Order id (ORD-...)");
const AGENT: Param = required("agent", Kind::Text, "Your agent name");
const LEASE_SECONDS: Param = optional(
    "lease_seconds",
    Kind::Integer,
    "Lease length, 30..86400 (default 900)",
);
const LEASE_TOKEN: Param = required("lease_token", Kind::Integer, "lease.token from next_task");
const LEASE_TOKEN_TO_END: Param = optional(
    "lease_token",
    Kind::Integer,
    "lease.token from next_task; refused if the lease was lost",
);

const STATUS_FILTER: Param = optional("status", Kind::Status, "Only tasks in this status");
const NOTE: Param = optional("note", Kind::Text, "What was done");
const REASON: Param = required("reason", Kind::Text, "Why the task cannot be done");
const QUESTION: Param = optional("question", Kind::Text, "What you need to know");
const ERROR_TEXT: Param = optional("error", Kind::Text, "The error you hit");

/// `GET` or `POST`: all the tools need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMethod {
    Get,
    Post,
}

impl ApiMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiMethod::Get => "GET",
            ApiMethod::Post => "POST",
        }
    }
}

/// The HTTP API request a tool call stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: ApiMethod,
    /// Path with every caller-given segment percent-encoded.
    pub path: String,
    pub body: Option<Value>,
    /// `list_tasks {status}`: keep only the tasks in this state (the route has no filter).
    pub only_status: Option<TaskStatus>,
}

impl Tool {
    pub const ALL: [Tool; 7] = [
        Tool::NextTask,
        Tool::GetTask,
        Tool::ListTasks,
        Tool::Heartbeat,
        Tool::CompleteTask,
        Tool::BlockTask,
        Tool::AskForHelp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::NextTask => "next_task",
            Tool::GetTask => "get_task",
            Tool::ListTasks => "list_tasks",
            Tool::Heartbeat => "heartbeat",
            Tool::CompleteTask => "complete_task",
            Tool::BlockTask => "block_task",
            Tool::AskForHelp => "ask_for_help",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }

    fn description(self) -> &'static str {
        match self {
            Tool::NextTask => {
                "Claim the order's next pending task with a lease. Keep lease.token; heartbeat \
                 before lease.expires_at or the task goes back to pending."
            }
            Tool::GetTask => "Read one task: instruction, file_path, placeholder, status, lease.",
            Tool::ListTasks => "List an order's tasks, optionally only those in one status.",
            Tool::Heartbeat => "Extend your lease on a task you are working on.",
            Tool::CompleteTask => "Mark a task complete; ends your lease.",
            Tool::BlockTask => {
                "Mark a task blocked, saying why it cannot be done; ends your lease."
            }
            Tool::AskForHelp => {
                "Guidance from Cloudflare's documentation for a task you are stuck on."
            }
        }
    }

    fn params(self) -> &'static [Param] {
        match self {
            Tool::NextTask => &[ORDER_ID, AGENT, LEASE_SECONDS],
            Tool::GetTask => &[UUID],
            Tool::ListTasks => &[ORDER_ID, STATUS_FILTER],
            Tool::Heartbeat => &[UUID, LEASE_TOKEN, LEASE_SECONDS],
            Tool::CompleteTask => &[UUID, LEASE_TOKEN_TO_END, NOTE],
            Tool::BlockTask => &[UUID, REASON, LEASE_TOKEN_TO_END],
            Tool::AskForHelp => &[UUID, AGENT, QUESTION, ERROR_TEXT],
        }
    }

    /// Reading tools change nothing; clients may call them without asking the user.
    fn read_only(self) -> bool {
        matches!(self, Tool::GetTask | Tool::ListTasks)
    }

    pub fn input_schema(self) -> Value {
        let mut properties = Map::new();
        for param in self.params() {
            let mut schema = match param.kind {
                Kind::Text => json!({ "type": "string", "minLength": 1 }),
                Kind::Integer => json!({ "type": "integer" }),
                Kind::Status => json!({ "enum": TaskStatus::ALL.map(TaskStatus::as_str) }),
            };
            schema["description"] = json!(param.about);
            properties.insert(param.name.into(), schema);
        }
        let required: Vec<&str> = self
            .params()
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The shape of a successful result's `structuredContent`: the HTTP API's answer. Loose
    /// on purpose (extra fields allowed) so that the API can grow without breaking clients
    /// that validate.
    pub fn output_schema(self) -> Value {
        let string = json!({ "type": "string" });
        let nullable_string = json!({ "type": ["string", "null"] });
        let task = object(
            &[
                ("uuid", string.clone()),
                ("order_id", string.clone()),
                ("instruction", string.clone()),
                ("status", nullable_string.clone()),
            ],
            &["uuid", "order_id", "instruction"],
        );
        let lease = object(
            &[
                ("token", json!({ "type": "integer" })),
                ("agent", string.clone()),
                ("expires_at", string.clone()),
            ],
            &["token", "expires_at"],
        );
        let status_change = object(
            &[
                ("uuid", string.clone()),
                ("status", string.clone()),
                ("previous_status", nullable_string),
            ],
            &["uuid", "status"],
        );
        match self {
            Tool::NextTask => object(&[("task", task), ("lease", lease)], &["task", "lease"]),
            Tool::GetTask => task,
            Tool::ListTasks => object(
                &[
                    ("order_id", string),
                    ("tasks", json!({ "type": "array", "items": task })),
                ],
                &["order_id", "tasks"],
            ),
            Tool::Heartbeat => object(&[("uuid", string), ("lease", lease)], &["uuid", "lease"]),
            Tool::CompleteTask | Tool::BlockTask => status_change,
            Tool::AskForHelp => object(
                &[
                    ("uuid", string.clone()),
                    ("ai_guidance", string),
                    ("sources", json!({ "type": "array" })),
                    ("degraded", json!({ "type": "boolean" })),
                ],
                &["uuid", "ai_guidance"],
            ),
        }
    }

    /// The entry of this tool in a `tools/list` answer.
    pub fn definition(self) -> Value {
        let mut tool = json!({
            "name": self.name(),
            "description": self.description(),
            "inputSchema": self.input_schema(),
            "outputSchema": self.output_schema(),
        });
        if self.read_only() {
            tool["annotations"] = json!({ "readOnlyHint": true });
        }
        tool
    }

    /// Checks `arguments` against the input schema, naming every problem, then writes the API
    /// call. Values the schema cannot judge (a lease length out of range, an unknown id) are
    /// left to the API, whose answer the caller gets as a tool error.
    pub fn prepare(self, arguments: &Map<String, Value>) -> Result<ApiCall, Vec<FieldError>> {
        let params = self.params();
        let mut errors = Vec::new();
        for key in arguments.keys() {
            if !params.iter().any(|p| p.name == key) {
                let known: Vec<&str> = params.iter().map(|p| p.name).collect();
                errors.push(FieldError::new(
                    key.as_str(),
                    format!(
                        "is not a parameter of {}; expected {}",
                        self.name(),
                        known.join(", ")
                    ),
                ));
            }
        }
        for param in params {
            if let Some(problem) = check(param, arguments.get(param.name)) {
                errors.push(FieldError::new(param.name, problem));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(self.api_call(&Args(arguments)))
    }

    fn api_call(self, args: &Args) -> ApiCall {
        let post = |path: String, body: Value| ApiCall {
            method: ApiMethod::Post,
            path,
            body: Some(body),
            only_status: None,
        };
        let task_path = |tail: &str| format!("/api/task/{}{tail}", path_segment(args.text("uuid")));
        match self {
            Tool::NextTask => post(
                format!("/api/orders/{}/next", path_segment(args.text("order_id"))),
                args.pick(&[("agent", "agent"), ("lease_seconds", "lease_seconds")]),
            ),
            Tool::GetTask => ApiCall {
                method: ApiMethod::Get,
                path: task_path(""),
                body: None,
                only_status: None,
            },
            Tool::ListTasks => ApiCall {
                method: ApiMethod::Get,
                path: format!("/api/tasks/{}", path_segment(args.text("order_id"))),
                body: None,
                only_status: args.get("status").and_then(TaskStatus::parse),
            },
            Tool::Heartbeat => post(
                task_path("/heartbeat"),
                args.pick(&[
                    ("lease_token", "lease_token"),
                    ("lease_seconds", "lease_seconds"),
                ]),
            ),
            Tool::CompleteTask => {
                let mut body = args.pick(&[("lease_token", "lease_token"), ("note", "note")]);
                body["status"] = json!(TaskStatus::Complete);
                post(task_path("/status"), body)
            }
            Tool::BlockTask => {
                let mut body = args.pick(&[("lease_token", "lease_token"), ("reason", "note")]);
                body["status"] = json!(TaskStatus::Blocked);
                post(task_path("/status"), body)
            }
            Tool::AskForHelp => post(
                task_path("/help"),
                args.pick(&[
                    ("agent", "agent_name"),
                    ("question", "question"),
                    ("error", "error"),
                ]),
            ),
        }
    }
}

/// Why a value does not fit its parameter, if it does not. `null` counts as absent: agents
/// often send it for an optional parameter they mean to leave out.
fn check(param: &Param, value: Option<&Value>) -> Option<String> {
    let value = match value {
        None | Some(Value::Null) => {
            return param.required.then(|| "is required".to_owned());
        }
        Some(value) => value,
    };
    match (param.kind, value) {
        (Kind::Text, Value::String(s)) if !s.is_empty() => None,
        (Kind::Text, Value::String(_)) => Some("must not be empty".into()),
        (Kind::Text, other) => Some(format!("must be a string, not {}", kind_of(other))),
        (Kind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => None,
        (Kind::Integer, other) => Some(format!("must be an integer, not {}", kind_of(other))),
        (Kind::Status, Value::String(s)) if TaskStatus::parse(s).is_some() => None,
        (Kind::Status, _) => Some(format!("must be one of {}", TaskStatus::allowed_list())),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checked arguments.
struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or_default()
    }

    /// A body of the given arguments under their API names, leaving out absent ones.
    fn pick(&self, renames: &[(&str, &str)]) -> Value {
        let mut body = Map::new();
        for (from, to) in renames {
            if let Some(value) = self.0.get(*from).filter(|v| !v.is_null()) {
                body.insert((*to).into(), value.clone());
            }
        }
        Value::Object(body)
    }
}

fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

/// A `tools/call` result from the API's answer: the JSON as `structuredContent` and as one
/// text block; a 4xx/5xx answer (the API's `{"error": {code, message}}`) sets `isError`.
pub fn call_result(status: u16, mut body: Value, only_status: Option<TaskStatus>) -> Value {
    let ok = (200..300).contains(&status);
    if let (true, Some(wanted), Some(tasks)) = (
        ok,
        only_status,
        body.get_mut("tasks").and_then(Value::as_array_mut),
    ) {
        tasks.retain(|task| task.get("status").and_then(Value::as_str) == Some(wanted.as_str()));
    }
    json!({
        "content": [{ "type": "text", "text": body.to_string() }],
        "structuredContent": body,
        "isError": !ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        let call = Tool::GetTask
            .prepare(&args(json!({"uuid": "../orders"})))
            .unwrap();
        assert_eq!(call.path, "/api/task/..%2Forders");
    }

    #[test]
    fn names_round_trip() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(tool));
        }
        assert_eq!(Tool::from_name("delete_everything"), None);
    }

    #[test]
    fn input_schemas_follow_the_parameter_table() {
        let schema = Tool::NextTask.input_schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["order_id", "agent"]));
        assert_eq!(schema["properties"]["lease_seconds"]["type"], "integer");
        assert_eq!(schema["additionalProperties"], false);
        let list = Tool::ListTasks.input_schema();
        assert_eq!(
            list["properties"]["status"]["enum"],
            json!(["pending", "in_progress", "complete", "blocked"])
        );
        for tool in Tool::ALL {
            let def = tool.definition();
            assert_eq!(def["outputSchema"]["type"], "object", "{}", tool.name());
            assert!(def["description"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }

    #[test]
    fn arguments_must_match_the_schema_and_every_problem_is_named() {
        let errors = Tool::NextTask
            .prepare(&args(
                json!({"order_id": 5, "lease_seconds": "60", "extra": 1}),
            ))
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["extra", "order_id", "agent", "lease_seconds"]);
        assert!(errors[1].message.contains("must be a string"));
        assert_eq!(errors[2].message, "is required");
        assert!(errors[3].message.contains("must be an integer"));

        assert!(Tool::GetTask.prepare(&args(json!({"uuid": ""}))).is_err());
        assert!(Tool::Heartbeat
            .prepare(&args(json!({"uuid": "A", "lease_token": 1.5})))
            .is_err());
        assert!(Tool::ListTasks
            .prepare(&args(json!({"order_id": "O", "status": "done"})))
            .is_err());
        // null is "left out" for an optional parameter, "missing" for a required one
        assert!(Tool::CompleteTask
            .prepare(&args(json!({"uuid": "A", "lease_token": null})))
            .is_ok());
        assert!(Tool::GetTask.prepare(&args(json!({"uuid": null}))).is_err());
    }

    #[test]
    fn each_tool_is_the_equivalent_api_call() {
        let call = |tool: Tool, a: Value| tool.prepare(&args(a)).unwrap();
        assert_eq!(
            call(
                Tool::NextTask,
                json!({"order_id": "ORD-a_b", "agent": "bot", "lease_seconds": 60})
            ),
            ApiCall {
                method: ApiMethod::Post,
                path: "/api/orders/ORD-a_b/next".into(),
                body: Some(json!({"agent": "bot", "lease_seconds": 60})),
                only_status: None,
            }
        );
        let get = call(Tool::GetTask, json!({"uuid": "ABC123"}));
        assert_eq!(
            (get.method, get.path.as_str()),
            (ApiMethod::Get, "/api/task/ABC123")
        );
        assert_eq!(get.body, None);
        let list = call(
            Tool::ListTasks,
            json!({"order_id": "ORD-1", "status": "pending"}),
        );
        assert_eq!(list.path, "/api/tasks/ORD-1");
        assert_eq!(list.only_status, Some(TaskStatus::Pending));
        assert_eq!(
            call(Tool::Heartbeat, json!({"uuid": "A", "lease_token": 3})).body,
            Some(json!({"lease_token": 3}))
        );
        let complete = call(
            Tool::CompleteTask,
            json!({"uuid": "A", "lease_token": 3, "note": "done"}),
        );
        assert_eq!(complete.path, "/api/task/A/status");
        assert_eq!(
            complete.body,
            Some(json!({"lease_token": 3, "note": "done", "status": "complete"}))
        );
        assert_eq!(
            call(Tool::BlockTask, json!({"uuid": "A", "reason": "no file"})).body,
            Some(json!({"note": "no file", "status": "blocked"}))
        );
        let help = call(
            Tool::AskForHelp,
            json!({"uuid": "A", "agent": "bot", "error": "E1"}),
        );
        assert_eq!(help.path, "/api/task/A/help");
        assert_eq!(help.body, Some(json!({"agent_name": "bot", "error": "E1"})));
    }

    #[test]
    fn results_carry_the_api_answer_and_errors_set_is_error() {
        let ok = call_result(200, json!({"uuid": "A"}), None);
        assert_eq!(ok["structuredContent"], json!({"uuid": "A"}));
        assert_eq!(ok["content"][0]["type"], "text");
        assert_eq!(ok["content"][0]["text"], "{\"uuid\":\"A\"}");
        assert_eq!(ok["isError"], false);

        let err = json!({"error": {"code": "not_found", "message": "task 'A' not found"}});
        let failed = call_result(404, err.clone(), None);
        assert_eq!(failed["isError"], true);
        assert_eq!(failed["structuredContent"], err);

        let listed = call_result(
            200,
            json!({"order_id": "O", "tasks": [
                {"uuid": "A", "status": "pending"}, {"uuid": "B", "status": "complete"}
            ]}),
            Some(TaskStatus::Complete),
        );
        assert_eq!(
            listed["structuredContent"]["tasks"],
            json!([{"uuid": "B", "status": "complete"}])
        );
    }
}
