//! The wire format of the Cloudflare docs MCP server's `search_cloudflare_documentation` tool:
//! the JSON-RPC request, and parsing either answer format into [`DocHit`]s.
//!
//! Contract: `docs/upstreams/docs-mcp.md`. The answer is plain JSON or an event
//! stream whose first JSON-RPC message is the response; the hits are in
//! `result.structuredContent.results` on newer servers and only in `<result>` text blocks on
//! older ones.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::upstream::UpstreamError;

use crate::domain::text::shorten;

pub const TOOL_NAME: &str = "search_cloudflare_documentation";

/// The longest upstream error message kept; the docs server's messages are one line.
const MAX_MESSAGE_CHARS: usize = 300;

/// One documentation chunk. `score` is the server's similarity when it sends one, otherwise
/// `1 / (rank + 1)` from the hit's position, so both formats rank the same way downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocHit {
    pub url: String,
    pub title: String,
    pub text: String,
    pub score: f64,
}

/// Why one docs search produced no hits.
#[derive(Debug, Clone, PartialEq)]
pub enum DocsError {
    /// Transport: timeout, unreachable, a non-2xx status without a JSON-RPC error.
    Upstream(UpstreamError),
    /// The server answered with a JSON-RPC `error`.
    Rpc { code: i64, message: String },
    /// The tool ran and failed (`result.isError`).
    Tool(String),
    /// The body is not a JSON-RPC response of the expected shape.
    Malformed(String),
}

impl DocsError {
    /// A short stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DocsError::Upstream(e) => e.kind(),
            DocsError::Rpc { .. } => "rpc_error",
            DocsError::Tool(_) => "tool_error",
            DocsError::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for DocsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocsError::Upstream(e) => write!(f, "docs search: {e}"),
            DocsError::Rpc { code, message } => {
                write!(f, "docs search JSON-RPC error {code}: {message}")
            }
            DocsError::Tool(message) => write!(f, "docs search tool failed: {message}"),
            DocsError::Malformed(what) => write!(f, "docs search answer malformed: {what}"),
        }
    }
}

impl std::error::Error for DocsError {}

impl From<UpstreamError> for DocsError {
    fn from(e: UpstreamError) -> Self {
        DocsError::Upstream(e)
    }
}

/// The JSON-RPC `tools/call` body for one query. No `initialize` first: the server is stateless.
pub fn request_body(id: u64, query: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": TOOL_NAME, "arguments": {"query": query}},
    })
}

/// Parses a response body in either format. `content_type` decides the format; when it is
/// missing or neither JSON nor an event stream, the body is sniffed.
pub fn parse_response(content_type: Option<&str>, body: &str) -> Result<Vec<DocHit>, DocsError> {
    let message = match body_format(content_type, body) {
        Format::Json => serde_json::from_str::<Value>(body)
            .map_err(|e| DocsError::Malformed(format!("body is not JSON: {e}")))?,
        Format::EventStream => first_rpc_message(body)?,
    };
    hits_from_message(&message)
}

/// A JSON-RPC `error` in a body, if there is one; lets a non-2xx answer that still speaks
/// JSON-RPC be reported as what it says rather than as a bare status.
pub fn rpc_error(content_type: Option<&str>, body: &str) -> Option<DocsError> {
    match parse_response(content_type, body) {
        Err(e @ DocsError::Rpc { .. }) => Some(e),
        _ => None,
    }
}

enum Format {
    Json,
    EventStream,
}

fn body_format(content_type: Option<&str>, body: &str) -> Format {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("text/event-stream") => Format::EventStream,
        Some(m) if m == "application/json" || m.ends_with("+json") => Format::Json,
        _ if body.trim_start().starts_with('{') => Format::Json,
        _ => Format::EventStream,
    }
}

/// The first event whose data is a JSON-RPC response (`result` or `error`). The contract says
/// the first `data:` line; skipping anything else first (a notification, a keep-alive comment)
/// costs nothing and survives a server that starts sending progress.
fn first_rpc_message(body: &str) -> Result<Value, DocsError> {
    let mut data: Vec<&str> = Vec::new();
    // A trailing empty line flushes the last event even when the stream ends without one.
    for line in body.lines().chain(std::iter::once("")) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if !data.is_empty() {
                let payload = data.join("\n");
                data.clear();
                if let Ok(message) = serde_json::from_str::<Value>(&payload) {
                    if message.get("result").is_some() || message.get("error").is_some() {
                        return Ok(message);
                    }
                }
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    Err(DocsError::Malformed(
        "no JSON-RPC response in the event stream".into(),
    ))
}

fn hits_from_message(message: &Value) -> Result<Vec<DocHit>, DocsError> {
    if let Some(error) = message.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unspecified");
        return Err(DocsError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: shorten(message, MAX_MESSAGE_CHARS),
        });
    }
    let result = message
        .get("result")
        .ok_or_else(|| DocsError::Malformed("no result or error".into()))?;
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = content_texts(result).join(" ");
        let text = if text.trim().is_empty() {
            "unspecified".to_string()
        } else {
            shorten(text.trim(), MAX_MESSAGE_CHARS)
        };
        return Err(DocsError::Tool(text));
    }
    if let Some(items) = result
        .pointer("/structuredContent/results")
        .and_then(Value::as_array)
    {
        let hits = hits_from_structured(items);
        // An array whose items are all unusable says nothing; the text blocks may still.
        if !hits.is_empty() || items.is_empty() {
            return Ok(hits);
        }
    }
    if !result.get("content").is_some_and(Value::is_array) {
        return Err(DocsError::Malformed(
            "result has neither structuredContent.results nor content".into(),
        ));
    }
    Ok(content_texts(result)
        .into_iter()
        .flat_map(hits_from_text_blocks)
        .enumerate()
        .map(|(rank, (url, title, text))| DocHit {
            url,
            title,
            text,
            score: rank_score(rank),
        })
        .collect())
}

fn hits_from_structured(items: &[Value]) -> Vec<DocHit> {
    items
        .iter()
        .filter_map(|item| {
            let url = item.get("url").and_then(Value::as_str)?.trim();
            if url.is_empty() {
                return None;
            }
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            let similarity = item
                .get("similarity")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite());
            Some((url.to_string(), field("title"), field("text"), similarity))
        })
        .enumerate()
        .map(|(rank, (url, title, text, similarity))| DocHit {
            url,
            title,
            text,
            score: similarity.unwrap_or_else(|| rank_score(rank)),
        })
        .collect()
}

fn rank_score(rank: usize) -> f64 {
    1.0 / (rank as f64 + 1.0)
}

fn content_texts(result: &Value) -> Vec<&str> {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// `(url, title, text)` of every `<result>` block that has a URL.
fn hits_from_text_blocks(text: &str) -> Vec<(String, String, String)> {
    let mut hits = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<result>") {
        let after = &rest[start + "<result>".len()..];
        let (block, next) = match after.find("</result>") {
            Some(end) => (&after[..end], &after[end + "</result>".len()..]),
            None => (after, ""),
        };
        let url = tag(block, "url").unwrap_or("").trim();
        if !url.is_empty() {
            hits.push((
                url.to_string(),
                tag(block, "title").unwrap_or("").trim().to_string(),
                tag(block, "text").unwrap_or("").trim().to_string(),
            ));
        }
        rest = next;
    }
    hits
}

/// The content of `<name>…</name>`; the last closing tag wins so a chunk quoting the tag
/// (documentation about markup) is not cut short.
fn tag<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].rfind(&close)? + start;
    Some(&block[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKS: &str = "<result>\n<url>https://developers.cloudflare.com/d1/worker-api/prepared-statements/</url>\n<title>Prepared statements</title>\n<text>\nUse bind() to pass parameters.\n</text>\n</result>\n<result>\n<url>https://developers.cloudflare.com/d1/</url>\n<title>d1</title>\n<text>\nD1 is Cloudflare's SQL database.\n</text>\n</result>";

    fn text_only_response() -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": BLOCKS}]}})
    }

    fn structured_response() -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": BLOCKS}],
            "structuredContent": {"results": [
                {"similarity": 0.91, "id": "f1", "url": "https://developers.cloudflare.com/kv/", "title": "kv", "text": "KV is a key-value store."},
                {"id": "f2", "url": "https://developers.cloudflare.com/r2/", "title": "r2", "text": "R2 stores objects."},
                {"similarity": 0.5, "title": "no url"}
            ]}
        }})
    }

    #[test]
    fn request_body_is_a_tools_call() {
        let body = request_body(7, "D1 bind");
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], 7);
        assert_eq!(body["method"], "tools/call");
        assert_eq!(body["params"]["name"], TOOL_NAME);
        assert_eq!(body["params"]["arguments"]["query"], "D1 bind");
    }

    #[test]
    fn parses_text_blocks_from_json() {
        let body = text_only_response().to_string();
        let hits = parse_response(Some("application/json"), &body).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(
            hits[0].url,
            "https://developers.cloudflare.com/d1/worker-api/prepared-statements/"
        );
        assert_eq!(hits[0].title, "Prepared statements");
        assert_eq!(hits[0].text, "Use bind() to pass parameters.");
        assert_eq!(hits[0].score, 1.0);
        assert_eq!(hits[1].score, 0.5);
    }

    #[test]
    fn prefers_structured_content() {
        let body = structured_response().to_string();
        let hits = parse_response(Some("application/json; charset=utf-8"), &body).unwrap();
        assert_eq!(hits.len(), 2, "the item without a URL is skipped");
        assert_eq!(hits[0].url, "https://developers.cloudflare.com/kv/");
        assert_eq!(hits[0].score, 0.91);
        assert_eq!(hits[1].title, "r2");
        assert_eq!(hits[1].score, 0.5, "no similarity: rank-derived");
    }

    #[test]
    fn empty_structured_results_are_no_hits() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": ""}], "structuredContent": {"results": []}}})
        .to_string();
        assert_eq!(parse_response(None, &body), Ok(vec![]));
    }

    #[test]
    fn unusable_structured_results_fall_back_to_text() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": BLOCKS}],
            "structuredContent": {"results": [{"title": "no url"}]}}})
        .to_string();
        assert_eq!(parse_response(None, &body).unwrap().len(), 2);
    }

    #[test]
    fn parses_event_stream() {
        let body = format!("event: message\ndata: {}\n\n", structured_response());
        let hits = parse_response(Some("text/event-stream"), &body).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].title, "kv");
    }

    #[test]
    fn parses_event_stream_with_crlf_no_trailing_blank_and_no_space() {
        let body = format!("event: message\r\ndata:{}", text_only_response());
        let hits = parse_response(Some("text/event-stream"), &body).unwrap();
        assert_eq!(hits.len(), 2);
    }

    #[test]
    fn event_stream_skips_notifications_and_comments() {
        let body = format!(
            ": keep-alive\n\ndata: {}\n\ndata: {}\n\n",
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}),
            text_only_response()
        );
        assert_eq!(
            parse_response(Some("text/event-stream"), &body)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn sniffs_format_without_content_type() {
        let json_body = text_only_response().to_string();
        assert_eq!(parse_response(None, &json_body).unwrap().len(), 2);
        let sse_body = format!("data: {json_body}\n\n");
        assert_eq!(
            parse_response(Some("text/plain"), &sse_body).unwrap().len(),
            2
        );
    }

    #[test]
    fn json_rpc_error_becomes_rpc() {
        let body = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool"}}"#;
        assert_eq!(
            parse_response(Some("application/json"), body),
            Err(DocsError::Rpc {
                code: -32602,
                message: "Unknown tool".into()
            })
        );
        let sse = format!("data: {body}\n\n");
        assert!(matches!(
            parse_response(Some("text/event-stream"), &sse),
            Err(DocsError::Rpc { code: -32602, .. })
        ));
        assert!(rpc_error(Some("application/json"), body).is_some());
        assert!(rpc_error(Some("text/html"), "<html>502</html>").is_none());
    }

    #[test]
    fn is_error_becomes_tool() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "isError": true, "content": [{"type": "text", "text": "AI Search failed"}]}})
        .to_string();
        assert_eq!(
            parse_response(None, &body),
            Err(DocsError::Tool("AI Search failed".into()))
        );
    }

    #[test]
    fn malformed_bodies() {
        for (ct, body) in [
            (Some("application/json"), "not json"),
            (Some("application/json"), "{\"jsonrpc\":\"2.0\",\"id\":1}"),
            (Some("application/json"), "{\"result\":{}}"),
            (Some("application/json"), "{\"result\":{\"content\":\"x\"}}"),
            (Some("text/event-stream"), "event: message\n\n"),
            (Some("text/event-stream"), "data: {not json\n\n"),
            (None, ""),
        ] {
            assert!(
                matches!(parse_response(ct, body), Err(DocsError::Malformed(_))),
                "{ct:?} {body:?}"
            );
        }
    }

    #[test]
    fn text_without_blocks_is_no_hits() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": "No results."}]}})
        .to_string();
        assert_eq!(parse_response(None, &body), Ok(vec![]));
    }

    #[test]
    fn block_parsing_tolerates_missing_close_and_missing_url() {
        let text = "<result><title>no url</title><text>x</text></result><result>\n<url>https://a/</url>\n<title>A</title>\n<text>\nmentions </text> inside\n</text>";
        let hits = hits_from_text_blocks(text);
        assert_eq!(
            hits,
            vec![(
                "https://a/".to_string(),
                "A".to_string(),
                "mentions </text> inside".to_string()
            )]
        );
    }

    #[test]
    fn error_kinds_and_display() {
        assert_eq!(DocsError::from(UpstreamError::Timeout).kind(), "timeout");
        assert_eq!(DocsError::Tool("x".into()).kind(), "tool_error");
        assert_eq!(
            DocsError::Rpc {
                code: -1,
                message: "m".into()
            }
            .to_string(),
            "docs search JSON-RPC error -1: m"
        );
    }
}
