//! Outbound fetch with a deadline, JSON request builders, and the pure rate-limit header logic.
//!
//! A request that cannot even be built (bad URL, a header value fetch rejects) is reported as
//! [`UpstreamError::Unreachable`]: it never left, and to the caller that is the same outcome.

use std::future::Future;
use std::time::Duration;

use futures::future::{select, Either};
use futures::pin_mut;
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{web_sys, AbortController, Delay, Fetch, Headers, Method, Request};

use super::UpstreamError;

/// Sent on every outbound request: GitHub refuses requests without one, and it names us in
/// upstream logs.
pub const USER_AGENT: &str = "mission-control";

/// An upstream answer read to the end within the deadline, with the headers callers act on.
///
/// Only parsed header values are kept: `worker::Headers`' `Debug` prints every header, and a
/// stray `{:?}` of a whole response should never end up in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after_secs: Option<u64>,
    /// `x-ratelimit-remaining` (GitHub and many gateways).
    pub ratelimit_remaining: Option<u64>,
    /// `x-ratelimit-reset`, seconds since the Unix epoch (GitHub).
    pub ratelimit_reset_epoch: Option<u64>,
    pub body: String,
}

impl TextResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_rate_limited(&self) -> bool {
        is_rate_limited(self.status, self.ratelimit_remaining, self.retry_after_secs)
    }

    /// `Ok(self)` on 2xx, otherwise the matching [`UpstreamError::Status`].
    pub fn error_for_status(self) -> Result<Self, UpstreamError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(UpstreamError::status(
                self.status,
                &self.body,
                self.retry_after_secs,
            ))
        }
    }
}

/// Sends `req` and reads the whole body as text, all within `timeout`; any status is returned
/// as is (see [`TextResponse::error_for_status`]).
pub async fn fetch_text(req: Request, timeout: Duration) -> Result<TextResponse, UpstreamError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(req);
    let exchange = async {
        let mut resp = fetch
            .send_with_signal(&signal)
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let headers = resp.headers();
        let content_type = header(headers, "content-type");
        let retry_after_secs = retry_after(headers);
        let ratelimit_remaining =
            header(headers, "x-ratelimit-remaining").and_then(|v| parse_u64_header(&v));
        let ratelimit_reset_epoch =
            header(headers, "x-ratelimit-reset").and_then(|v| parse_u64_header(&v));
        let body = resp
            .text()
            .await
            .map_err(|e| UpstreamError::BadResponse(format!("unreadable body: {e}")))?;
        Ok(TextResponse {
            status: resp.status_code(),
            content_type,
            retry_after_secs,
            ratelimit_remaining,
            ratelimit_reset_epoch,
            body,
        })
    };
    within(timeout, controller, exchange).await
}

/// Races `work` against a timer; on timeout the controller aborts the in-flight fetch so workerd
/// does not keep a socket open for an answer nobody reads.
async fn within<T>(
    timeout: Duration,
    controller: AbortController,
    work: impl Future<Output = Result<T, UpstreamError>>,
) -> Result<T, UpstreamError> {
    let delay = Delay::from(timeout);
    pin_mut!(work);
    pin_mut!(delay);
    match select(work, delay).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => {
            controller.abort();
            Err(UpstreamError::Timeout)
        }
    }
}

/// Builds a request with `User-Agent` and `Accept: application/json` set, `Content-Type:
/// application/json` when there is a body, then `headers` applied on top (they override).
pub fn build_request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    json_body: Option<String>,
) -> Result<Request, UpstreamError> {
    let all = Headers::new();
    set_header(&all, "user-agent", USER_AGENT)?;
    set_header(&all, "accept", "application/json")?;
    if json_body.is_some() {
        set_header(&all, "content-type", "application/json")?;
    }
    for (name, value) in headers {
        set_header(&all, name, value)?;
    }
    new_request(method, url, &all, json_body.as_deref())
        .map_err(|e| UpstreamError::Unreachable(format!("invalid request: {e}")))
}

/// What `Request::new_with_init` builds from a `worker::RequestInit` with these fields (headers
/// when there are any, the method, `redirect: "follow"`, the body), built on
/// `web_sys::RequestInit` directly. `worker::RequestInit`'s conversion also carries the
/// serialiser of the `cf` properties (image resizing, polish, minify, ...), none of which a
/// request here sets: 4.7 KiB of the gzipped wasm for nothing.
pub fn new_request(
    method: Method,
    url: &str,
    headers: &Headers,
    body: Option<&str>,
) -> worker::Result<Request> {
    let init = web_sys::RequestInit::new();
    if !headers.is_empty() {
        init.set_headers(headers.as_ref());
    }
    init.set_method(method.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Follow);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| {
            worker::Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

/// A `POST` of `body` serialised as JSON.
pub fn json_post<B: Serialize + ?Sized>(
    url: &str,
    headers: &[(&str, &str)],
    body: &B,
) -> Result<Request, UpstreamError> {
    let json = serde_json::to_string(body)
        .map_err(|e| UpstreamError::Unreachable(format!("unencodable request body: {e}")))?;
    build_request(Method::Post, url, headers, Some(json))
}

// The error names the header but never echoes the value: the value may be a bearer token.
fn set_header(headers: &Headers, name: &str, value: &str) -> Result<(), UpstreamError> {
    headers
        .set(name, value)
        .map_err(|_| UpstreamError::Unreachable(format!("invalid value for header {name}")))
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// The `retry-after` of a response, in seconds (see [`parse_retry_after`]).
pub fn retry_after(headers: &Headers) -> Option<u64> {
    header(headers, "retry-after").and_then(|v| parse_retry_after(&v))
}

/// Parses a `retry-after` value in its delta-seconds form. The HTTP-date form yields `None`:
/// the upstreams we call (GitHub, gateways) send seconds, and a caller without a hint falls back
/// to its own backoff anyway.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    parse_u64_header(value)
}

fn parse_u64_header(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Whether a response means "slow down" rather than "refused": a 429 always; a 403 only when it
/// carries a rate-limit signal, because GitHub uses 403 both for its rate limits and for a real
/// permission failure, which must not be retried.
pub fn is_rate_limited(
    status: u16,
    ratelimit_remaining: Option<u64>,
    retry_after_secs: Option<u64>,
) -> bool {
    match status {
        429 => true,
        403 => ratelimit_remaining == Some(0) || retry_after_secs.is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_form() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
    }

    #[test]
    fn retry_after_rejects_dates_and_junk() {
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after(""), None);
        assert_eq!(parse_retry_after("-5"), None);
        assert_eq!(parse_retry_after("+5"), None);
        assert_eq!(parse_retry_after("1.5"), None);
        assert_eq!(parse_retry_after("99999999999999999999999"), None);
    }

    #[test]
    fn rate_limited_429_always() {
        assert!(is_rate_limited(429, None, None));
        assert!(is_rate_limited(429, Some(10), None));
    }

    #[test]
    fn rate_limited_403_only_with_a_signal() {
        assert!(is_rate_limited(403, Some(0), None));
        assert!(is_rate_limited(403, None, Some(60)));
        assert!(!is_rate_limited(403, Some(12), None));
        assert!(!is_rate_limited(403, None, None));
    }

    #[test]
    fn other_statuses_are_not_rate_limits() {
        assert!(!is_rate_limited(500, Some(0), Some(5)));
        assert!(!is_rate_limited(200, Some(0), None));
        assert!(!is_rate_limited(401, None, None));
    }

    fn response(status: u16, body: &str) -> TextResponse {
        TextResponse {
            status,
            content_type: Some("application/json".into()),
            retry_after_secs: Some(3),
            ratelimit_remaining: Some(0),
            ratelimit_reset_epoch: None,
            body: body.into(),
        }
    }

    #[test]
    fn error_for_status_passes_success() {
        let resp = response(201, "{}");
        assert_eq!(resp.clone().error_for_status(), Ok(resp));
    }

    #[test]
    fn error_for_status_maps_failure() {
        let resp = response(403, "slow down");
        assert!(resp.is_rate_limited());
        assert_eq!(
            resp.error_for_status(),
            Err(UpstreamError::Status {
                status: 403,
                body: "slow down".into(),
                retry_after_secs: Some(3)
            })
        );
    }
}
