//! The client for an OpenAI-compatible chat-completions endpoint (Cloudflare AI Gateway, OpenAI,
//! or a local stand-in): one system and one user message in, the assistant's text out.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::http::{fetch_text, json_post};
use super::UpstreamError;

/// A configured model endpoint. `base_url` is the part before `/chat/completions`, e.g.
/// `https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai` or `http://127.0.0.1:PORT/v1`.
#[derive(Clone)]
pub struct ChatModel {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    pub timeout: Duration,
}

// Hand-written so that a `{:?}` of a config or handler state never prints the key.
impl fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatModel")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The request body. Only `model` and `messages`: sampling parameters are left to the endpoint
/// because some models reject any `temperature` but the default.
#[derive(Debug, Serialize, PartialEq)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: [ChatMessage<'a>; 2],
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ChatMessage<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

impl ChatModel {
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        model: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            model: model.into(),
            timeout,
        }
    }

    /// `{base_url}/chat/completions`, tolerating a trailing slash on the base.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    pub fn request_body<'a>(&'a self, system: &'a str, user: &'a str) -> ChatRequest<'a> {
        ChatRequest {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: system,
                },
                ChatMessage {
                    role: "user",
                    content: user,
                },
            ],
        }
    }

    /// Asks the model once, within `self.timeout`, and returns its trimmed answer.
    pub async fn complete(&self, system: &str, user: &str) -> Result<String, UpstreamError> {
        let bearer = format!("Bearer {}", self.api_key);
        let req = json_post(
            &self.endpoint(),
            &[("authorization", bearer.as_str())],
            &self.request_body(system, user),
        )?;
        let resp = fetch_text(req, self.timeout).await?.error_for_status()?;
        parse_completion(&resp.body)
    }
}

/// Extracts the assistant's text from a chat-completions response body.
///
/// Accepts `content` as a string or as an array of `{type: "text", text}` parts, drops a leading
/// `<think>…</think>` block (reasoning models served through gateways emit one), and treats an
/// `error` object, a missing choice or an empty answer as [`UpstreamError::BadResponse`].
pub fn parse_completion(body: &str) -> Result<String, UpstreamError> {
    let json: Value = serde_json::from_str(body)
        .map_err(|e| UpstreamError::BadResponse(format!("completion is not JSON: {e}")))?;
    if let Some(error) = json.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("unspecified");
        return Err(UpstreamError::BadResponse(format!(
            "model error: {}",
            crate::domain::text::clip_chars(message, 200)
        )));
    }
    let content = json
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"))
        .ok_or_else(|| UpstreamError::BadResponse("completion has no choices[0].message".into()))?;
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    let answer = strip_think_block(&text).trim();
    if answer.is_empty() {
        return Err(UpstreamError::BadResponse("completion is empty".into()));
    }
    Ok(answer.to_string())
}

fn strip_think_block(text: &str) -> &str {
    let trimmed = text.trim_start();
    match trimmed.strip_prefix("<think>") {
        Some(rest) => match rest.find("</think>") {
            Some(end) => &rest[end + "</think>".len()..],
            // An unterminated block is all reasoning and no answer.
            None => "",
        },
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(base: &str) -> ChatModel {
        ChatModel::new(base, "sk-secret", "gpt-4o-mini", Duration::from_secs(5))
    }

    #[test]
    fn endpoint_joins_with_and_without_trailing_slash() {
        assert_eq!(
            model("http://127.0.0.1:9000/v1").endpoint(),
            "http://127.0.0.1:9000/v1/chat/completions"
        );
        assert_eq!(
            model("https://gateway.ai.cloudflare.com/v1/acc/gw/openai/").endpoint(),
            "https://gateway.ai.cloudflare.com/v1/acc/gw/openai/chat/completions"
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let shown = format!("{:?}", model("http://x"));
        assert!(!shown.contains("sk-secret"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn request_body_shape() {
        let m = model("http://x");
        let body = serde_json::to_value(m.request_body("be brief", "why?")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "why?"}
                ]
            })
        );
    }

    #[test]
    fn parses_string_content() {
        let body = r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"  Use env.DB.prepare().  "},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_completion(body).unwrap(), "Use env.DB.prepare().");
    }

    #[test]
    fn parses_content_parts() {
        let body = r#"{"choices":[{"message":{"content":[{"type":"text","text":"Bind "},{"type":"text","text":"it."}]}}]}"#;
        assert_eq!(parse_completion(body).unwrap(), "Bind it.");
    }

    #[test]
    fn drops_think_block() {
        let body =
            r#"{"choices":[{"message":{"content":"<think>hmm, D1...</think>\nUse bind()."}}]}"#;
        assert_eq!(parse_completion(body).unwrap(), "Use bind().");
    }

    #[test]
    fn unterminated_think_block_is_empty() {
        let body = r#"{"choices":[{"message":{"content":"<think>still thinking"}}]}"#;
        assert!(matches!(
            parse_completion(body),
            Err(UpstreamError::BadResponse(_))
        ));
    }

    #[test]
    fn error_object_is_bad_response() {
        let body = r#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#;
        assert_eq!(
            parse_completion(body),
            Err(UpstreamError::BadResponse(
                "model error: model not found".into()
            ))
        );
    }

    #[test]
    fn malformed_bodies_are_bad_responses() {
        for body in [
            "",
            "not json",
            "{}",
            r#"{"choices":[]}"#,
            r#"{"choices":[{"message":{"content":null}}]}"#,
            r#"{"choices":[{"message":{"content":"   "}}]}"#,
        ] {
            assert!(
                matches!(parse_completion(body), Err(UpstreamError::BadResponse(_))),
                "{body:?}"
            );
        }
    }
}
