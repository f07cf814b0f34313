//! `POST /mcp`: a remote MCP server (streamable HTTP answered with `application/json`,
//! stateless) whose tools are the HTTP API's routes.
//!
//! A `tools/call` is turned into the equivalent API request (`tools`), run through the same
//! handlers as HTTP (`handlers::serve`; the caller was authorised at `/mcp`), and the API's
//! answer becomes the tool result. No route logic lives here.
//!
//! - `transport`: Origin and `MCP-Protocol-Version` checks.
//! - `jsonrpc`: message classification and answers.
//! - `dispatch`: what each method answers (pure).
//! - `tools`: the tool table, schemas, argument checks, API calls.
//! - `version`: the protocol revisions and their differences.

pub mod dispatch;
pub mod jsonrpc;
pub mod tools;
pub mod transport;
pub mod version;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::handlers;
use crate::http::{self, check_content_type, MAX_BODY_BYTES};
use crate::router;
use crate::upstream;
use dispatch::Outcome;
use jsonrpc::{Message, RpcError, INVALID_REQUEST, PARSE_ERROR};
use serde_json::Value;
use tools::ApiCall;
use version::ProtocolVersion;
use worker::{console_error, Env, Headers, Method, Request, Response};

/// Internal API requests need an absolute URL; routing uses the path string itself, so the
/// host is never looked at.
const INTERNAL_ORIGIN: &str = "http://mission-control.internal";

/// Runs before the token check, as the transport spec asks: a page on another origin gets
/// 403 whatever credentials it sends.
pub fn refuse_foreign_origin(req: &Request) -> Option<ApiResult<Response>> {
    let origin = req.headers().get("origin").ok().flatten();
    let url = req.inner().url();
    let own = crate::http::origin_of(&url)?;
    if transport::origin_allowed(origin.as_deref(), own) {
        return None;
    }
    Some(rpc_error(
        403,
        &RpcError::new(
            INVALID_REQUEST,
            "forbidden: requests from a browser page on another origin are refused",
        ),
    ))
}

/// `POST /mcp`, after the Origin and token checks.
pub async fn handle(req: &mut Request, env: &Env, config: &Config) -> ApiResult<Response> {
    let header = req.headers().get("mcp-protocol-version").ok().flatten();
    let version = match transport::header_version(header.as_deref()) {
        Ok(version) => version,
        Err(why) => return rpc_error(400, &RpcError::new(INVALID_REQUEST, why)),
    };
    if check_content_type(req.headers().get("content-type").ok().flatten().as_deref()).is_err() {
        return rpc_error(
            415,
            &RpcError::new(
                INVALID_REQUEST,
                "messages must be sent with 'Content-Type: application/json'",
            ),
        );
    }
    let too_large = || {
        rpc_error(
            413,
            &RpcError::new(
                INVALID_REQUEST,
                format!("message exceeds the limit of {MAX_BODY_BYTES} bytes"),
            ),
        )
    };
    let declared = req.headers().get("content-length").ok().flatten();
    if declared
        .and_then(|len| len.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES)
    {
        return too_large();
    }
    let Ok(bytes) = req.bytes().await else {
        return rpc_error(
            400,
            &RpcError::new(PARSE_ERROR, "parse error: the body could not be read"),
        );
    };
    if bytes.len() > MAX_BODY_BYTES {
        return too_large();
    }
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(err) => {
            return rpc_error(
                400,
                &RpcError::new(PARSE_ERROR, format!("parse error: {err}")),
            )
        }
    };
    match message {
        Value::Array(batch) => answer_batch(&batch, version, env, config).await,
        single => answer_single(&single, version, env, config).await,
    }
}

async fn answer_single(
    message: &Value,
    version: ProtocolVersion,
    env: &Env,
    config: &Config,
) -> ApiResult<Response> {
    match jsonrpc::classify(message) {
        Err(invalid) => http::json(400, &jsonrpc::failure(&invalid.id, &invalid.error())),
        Ok(Message::Notification { .. } | Message::Response) => accepted(),
        Ok(Message::Request { id, method, params }) => {
            let answer = answer_request(&id, &method, params.as_ref(), version, env, config).await;
            http::json(200, &answer)
        }
    }
}

/// JSON-RPC batches, where the revision has them (2025-03-26): each request answered in
/// order, notifications and responses silently; nothing to answer is a 202.
async fn answer_batch(
    batch: &[Value],
    version: ProtocolVersion,
    env: &Env,
    config: &Config,
) -> ApiResult<Response> {
    if !version.allows_batches() {
        let why = format!(
            "JSON-RPC batches are not part of MCP {}; send one message per request",
            version.as_str()
        );
        return rpc_error(400, &RpcError::new(INVALID_REQUEST, why));
    }
    if batch.is_empty() {
        return rpc_error(
            400,
            &RpcError::new(INVALID_REQUEST, "invalid request: empty batch"),
        );
    }
    let mut answers = Vec::new();
    for message in batch {
        match jsonrpc::classify(message) {
            Err(invalid) => answers.push(jsonrpc::failure(&invalid.id, &invalid.error())),
            Ok(Message::Notification { .. } | Message::Response) => {}
            Ok(Message::Request { id, method, .. }) if method == "initialize" => {
                let why = "invalid request: initialize must not be part of a batch";
                answers.push(jsonrpc::failure(&id, &RpcError::new(INVALID_REQUEST, why)));
            }
            Ok(Message::Request { id, method, params }) => {
                answers.push(
                    answer_request(&id, &method, params.as_ref(), version, env, config).await,
                );
            }
        }
    }
    if answers.is_empty() {
        accepted()
    } else {
        http::json(200, &answers)
    }
}

async fn answer_request(
    id: &Value,
    method: &str,
    params: Option<&Value>,
    version: ProtocolVersion,
    env: &Env,
    config: &Config,
) -> Value {
    match dispatch::handle(method, params, version) {
        Outcome::Answer(result) => jsonrpc::success(id, result),
        Outcome::Fail(error) => jsonrpc::failure(id, &error),
        Outcome::Call(call) => {
            let (status, body) = execute(&call, env, config).await;
            jsonrpc::success(id, tools::call_result(status, body, call.only_status))
        }
    }
}

/// Runs an API call through the HTTP handlers: the answer's status and JSON body, or the
/// error the handler returned in the API's error shape.
async fn execute(call: &ApiCall, env: &Env, config: &Config) -> (u16, Value) {
    let failed = |err: ApiError| (err.status(), err.body());
    let route = match router::resolve(call.method.as_str(), &call.path) {
        Ok(route) => route,
        Err(err) => return failed(err),
    };
    let mut req = match internal_request(call) {
        Ok(req) => req,
        Err(err) => {
            console_error!("building the internal request for {}: {err}", call.path);
            return failed(ApiError::Internal("building internal request"));
        }
    };
    // Boxed: `serve` can reach `handle` again (through `Route::Mcp`), so the future type is
    // recursive and needs one indirection. Tool paths are all under `/api/`.
    let mut response = match Box::pin(handlers::serve(route, &mut req, env, config)).await {
        Ok(response) => response,
        Err(err) => return failed(err),
    };
    let status = response.status_code();
    match response
        .text()
        .await
        .map(|text| serde_json::from_str(&text))
    {
        Ok(Ok(body)) => (status, body),
        _ => {
            console_error!("{} answered {status} without a JSON body", call.path);
            failed(ApiError::Internal("reading internal response"))
        }
    }
}

fn internal_request(call: &ApiCall) -> worker::Result<Request> {
    let headers = Headers::new();
    let body = call.body.as_ref().map(Value::to_string);
    if body.is_some() {
        headers.set("content-type", "application/json")?;
    }
    upstream::http::new_request(
        Method::from(call.method.as_str().to_owned()),
        &format!("{INTERNAL_ORIGIN}{}", call.path),
        &headers,
        body.as_deref(),
    )
}

/// A transport-level refusal: the JSON-RPC error with no usable `id`, at an HTTP status.
fn rpc_error(status: u16, error: &RpcError) -> ApiResult<Response> {
    http::json(status, &jsonrpc::failure(&Value::Null, error))
}

/// Notifications and responses: accepted, nothing to say.
fn accepted() -> ApiResult<Response> {
    Ok(Response::empty()?.with_status(202))
}
