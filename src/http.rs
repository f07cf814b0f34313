//! Reading request bodies within limits and writing JSON responses in the API's one shape.

use crate::domain::idempotency::Prior;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;
use serde_json::Value;
use worker::{Request, Response};

/// The largest body any route accepts. An order at its task limit fits well inside.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Reads a JSON body: `application/json`, at most `limit` bytes, well-formed.
pub async fn read_json(req: &mut Request, limit: usize) -> ApiResult<Value> {
    let headers = req.headers();
    check_content_type(headers.get("content-type").ok().flatten().as_deref())?;
    let declared = headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::InvalidJson("the body could not be read".into()))?;
    parse_json(&bytes, limit)
}

pub fn check_content_type(content_type: Option<&str>) -> ApiResult<()> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The length check repeats here because `content-length` may be absent (chunked) or lie.
pub fn parse_json(bytes: &[u8], limit: usize) -> ApiResult<Value> {
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Percent-encodes one path segment: everything but RFC 3986's unreserved characters, so an
/// id can never add a segment (`/`), start a query (`?`) or climb (`..` is kept apart from
/// URL parsing because the route is resolved from this string, not from a URL).
pub fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The decoded query string, in order.
pub fn query_pairs(req: &Request) -> ApiResult<Vec<(String, String)>> {
    Ok(parse_query(&req.inner().url()))
}

// URLs here are taken apart by hand rather than with the `url` crate: its IDNA and Unicode
// normalisation tables were a sixth of the gzipped wasm, for URLs the runtime has already normalised.

/// The `key=value` pairs of an absolute URL's query, `+` and percent-escapes decoded, in order.
pub fn parse_query(url: &str) -> Vec<(String, String)> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    match without_fragment.split_once('?') {
        Some((_, query)) => form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        None => Vec::new(),
    }
}

/// `scheme://host[:port]` of an absolute URL (the runtime hands requests over with the host
/// lower-cased and default ports dropped, so this is the serialised origin).
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (!scheme.is_empty() && end > 0).then(|| &url[..scheme.len() + 3 + end])
}

/// `Cache-Control` of API answers: per-request state, so no cache may keep them.
pub const CACHE_NEVER: &str = "no-store";
/// `Cache-Control` of answers with an `ETag`: a client may keep the answer but must revalidate
/// it every time.
pub const CACHE_REVALIDATE: &str = "no-cache";

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    let mut resp = Response::from_json(body)?.with_status(status);
    resp.headers_mut().set("cache-control", CACHE_NEVER)?;
    Ok(resp)
}

/// A JSON body that was stored already serialised (idempotent replays).
pub fn raw_json(status: u16, body: String) -> ApiResult<Response> {
    let mut resp = Response::ok(body)?.with_status(status);
    let headers = resp.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", CACHE_NEVER)?;
    Ok(resp)
}

/// `If-None-Match` semantics (RFC 9110 13.1.2): `*`, or a list of tags compared weakly.
pub fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The stored answer of an earlier request with the same `Idempotency-Key`.
pub fn replayed(status: u16, body: String) -> ApiResult<Response> {
    let mut resp = raw_json(status, body)?;
    resp.headers_mut().set("idempotent-replayed", "true")?;
    Ok(resp)
}

/// The answer an idempotent route gives for a [`Prior`] other than `Fresh` (`None` for that:
/// do the work). `retry_after_secs` is what a client waiting on a running request is told.
pub fn prior_answer(prior: Prior, retry_after_secs: u32) -> ApiResult<Option<Response>> {
    match prior {
        Prior::Fresh => Ok(None),
        Prior::Replay { status, body } => Ok(Some(replayed(status, body)?)),
        Prior::InProgress => Err(ApiError::BatchInProgress { retry_after_secs }),
        Prior::Reused => Err(ApiError::IdempotencyKeyReused),
    }
}

pub fn error_response(err: &ApiError) -> worker::Result<Response> {
    let mut resp = Response::from_json(&err.body())?.with_status(err.status());
    resp.headers_mut().set("cache-control", CACHE_NEVER)?;
    match err {
        ApiError::Unauthorized => resp
            .headers_mut()
            .set("www-authenticate", "Bearer realm=\"mission-control\"")?,
        ApiError::MethodNotAllowed { allowed } => {
            resp.headers_mut().set("allow", &allowed.join(", "))?
        }
        ApiError::BatchInProgress { retry_after_secs } => resp
            .headers_mut()
            .set("retry-after", &retry_after_secs.to_string())?,
        _ => {}
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("ORD-aZ_9.~"), "ORD-aZ_9.~");
        assert_eq!(path_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(path_segment("%"), "%25");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn content_type_must_be_json_with_any_parameters() {
        assert!(check_content_type(Some("application/json")).is_ok());
        assert!(check_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some(""),
        ] {
            assert_eq!(check_content_type(bad), Err(ApiError::UnsupportedMediaType));
        }
    }

    #[test]
    fn queries_and_origins_of_urls() {
        assert_eq!(
            parse_query("https://h.example/api/ops/logs?order_id=ORD-1&source=a+b%2Fc&x#frag"),
            [
                ("order_id".to_owned(), "ORD-1".to_owned()),
                ("source".to_owned(), "a b/c".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert!(parse_query("https://h.example/api/ops/logs").is_empty());
        assert!(parse_query("https://h.example/p#a?b=c").is_empty());
        assert_eq!(
            origin_of("https://mc.example.com/mcp?x"),
            Some("https://mc.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8787"),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(origin_of("no-scheme/path"), None);
        assert_eq!(origin_of("http:///path"), None);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"0123456789abcdef\"";
        assert!(etag_matches(tag, tag));
        assert!(etag_matches("*", tag));
        assert!(etag_matches("\"x\", W/\"0123456789abcdef\"", tag));
        assert!(!etag_matches("\"x\"", tag));
        assert!(!etag_matches("", tag));
        assert!(!etag_matches("0123456789abcdef", tag));
    }

    #[test]
    fn body_limits_and_malformed_json() {
        assert_eq!(parse_json(b"{}", 2).unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_json(b"{ }", 2),
            Err(ApiError::PayloadTooLarge { limit: 2 })
        );
        assert!(matches!(
            parse_json(b"  ", 10),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json(b"{\"a\":", 10),
            Err(ApiError::InvalidJson(_))
        ));
    }
}
