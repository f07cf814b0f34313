//! Outbound HTTP to the services the Worker depends on (docs search, the model endpoint, GitHub):
//! deadlines, rate-limit signals and one error type for every way an upstream can fail.
//!
//! - [`budget`]: [`budget::CallBudget`], the upstream calls one request may still make, drawn
//!   from by every client the request uses.
//! - [`docs`]: the Cloudflare docs MCP server ([`docs::DocsClient`]) and its wire format.
//! - [`github`]: core-github-api, the Worker that proxies GitHub ([`github::GitHub`]).
//! - [`http`]: fetch with a deadline that covers the whole exchange, request builders, and the
//!   pure header logic (`retry-after`, rate-limit detection).
//! - [`model`]: an OpenAI-compatible chat-completions client ([`model::ChatModel`]).
//!
//! Nothing here reads `worker::Env`: callers pass URLs, keys and timeouts in, so the pure parts
//! are unit-tested on the host. The async parts only run inside workerd.

pub mod budget;
pub mod docs;
pub mod github;
pub mod http;
pub mod model;

use std::fmt;

/// The longest upstream body kept in [`UpstreamError::Status`]; enough to log the cause, small
/// enough that a chatty error page never bloats a log row.
pub const MAX_ERROR_BODY_CHARS: usize = 512;

/// Every way a call to an upstream can fail.
///
/// `Display` names the failure class and status only: it never renders request URLs, headers or
/// upstream bodies, so it is safe to log and never carries a key. The `body` field is there for
/// callers that want the upstream's own words in a log, already clipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// No complete answer within the deadline; the request was aborted.
    Timeout,
    /// The request never got an HTTP answer (DNS, connection refused, TLS, a URL fetch rejects).
    Unreachable(String),
    /// The upstream answered with a non-success status.
    Status {
        status: u16,
        body: String,
        retry_after_secs: Option<u64>,
    },
    /// A success status whose body is not what the protocol promises.
    BadResponse(String),
}

impl UpstreamError {
    /// Builds a `Status` error, clipping the body to [`MAX_ERROR_BODY_CHARS`].
    pub fn status(status: u16, body: &str, retry_after_secs: Option<u64>) -> Self {
        UpstreamError::Status {
            status,
            body: crate::domain::text::clip_chars(body, MAX_ERROR_BODY_CHARS).to_string(),
            retry_after_secs,
        }
    }

    /// A short stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Unreachable(_) => "unreachable",
            UpstreamError::Status { .. } => "http_status",
            UpstreamError::BadResponse(_) => "bad_response",
        }
    }

    /// The `retry-after` the upstream asked for, when it asked.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            UpstreamError::Status {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Timeout => f.write_str("upstream did not answer in time"),
            UpstreamError::Unreachable(cause) => write!(f, "upstream unreachable: {cause}"),
            UpstreamError::Status {
                status,
                retry_after_secs: Some(secs),
                ..
            } => write!(f, "upstream answered HTTP {status} (retry after {secs}s)"),
            UpstreamError::Status { status, .. } => write!(f, "upstream answered HTTP {status}"),
            UpstreamError::BadResponse(what) => write!(f, "upstream sent a bad response: {what}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_clips_body_on_char_boundary() {
        let body = "é".repeat(MAX_ERROR_BODY_CHARS + 10);
        let err = UpstreamError::status(500, &body, None);
        match err {
            UpstreamError::Status { body, .. } => {
                assert_eq!(body.chars().count(), MAX_ERROR_BODY_CHARS)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn display_never_renders_the_body() {
        let err = UpstreamError::status(401, "token ghp_secret is invalid", Some(30));
        let shown = err.to_string();
        assert_eq!(shown, "upstream answered HTTP 401 (retry after 30s)");
        assert!(!shown.contains("ghp_secret"));
    }

    #[test]
    fn kind_and_retry_after() {
        assert_eq!(UpstreamError::Timeout.kind(), "timeout");
        assert_eq!(UpstreamError::Timeout.retry_after_secs(), None);
        let err = UpstreamError::status(429, "", Some(7));
        assert_eq!(err.kind(), "http_status");
        assert_eq!(err.retry_after_secs(), Some(7));
    }
}
