//! The `Idempotency-Key` header and the fingerprint that ties a key to one request.

use super::hash::fnv1a_64_hex;
use crate::error::{ApiError, ApiResult, FieldError};

pub const HEADER: &str = "idempotency-key";
pub const MAX_KEY_LEN: usize = 255;

/// The key, if the client sent one: 1..=255 visible ASCII characters.
pub fn parse_key(header: Option<&str>) -> ApiResult<Option<String>> {
    let Some(raw) = header else { return Ok(None) };
    let key = raw.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )]));
    }
    Ok(Some(key.to_owned()))
}

/// The hash of the canonical request. Not a security boundary: it only has to notice a key
/// reused for another request, and needs no crypto crate or async `crypto.subtle` call.
pub fn fingerprint(canonical: &[u8]) -> String {
    fnv1a_64_hex(canonical)
}

/// What an earlier request with the same key left, as the one protocol every idempotent
/// route follows: do the work (`Fresh`), answer what was answered (`Replay`), tell the client to
/// wait (`InProgress`), or refuse a key reused for another request (`Reused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    Fresh,
    Replay { status: u16, body: String },
    InProgress,
    Reused,
}

/// The answer status a claim holds while its work runs: claimed before long work (remediation)
/// so a retry arriving meanwhile waits instead of doing the work a second time.
pub const IN_PROGRESS: u16 = 0;

/// Classifies a stored `(request_hash, status, body)` for a request hashing to `request_hash`.
pub fn classify(stored: Option<(&str, u16, &str)>, request_hash: &str) -> Prior {
    match stored {
        None => Prior::Fresh,
        Some((hash, ..)) if hash != request_hash => Prior::Reused,
        Some((_, IN_PROGRESS, _)) => Prior::InProgress,
        Some((_, status, body)) => Prior::Replay {
            status,
            body: body.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors() {
        assert_eq!(classify(None, "h"), Prior::Fresh);
        assert_eq!(classify(Some(("other", 200, "{}")), "h"), Prior::Reused);
        assert_eq!(
            classify(Some(("h", IN_PROGRESS, "")), "h"),
            Prior::InProgress
        );
        assert_eq!(
            classify(Some(("h", 201, "{\"a\":1}")), "h"),
            Prior::Replay {
                status: 201,
                body: "{\"a\":1}".into()
            }
        );
        // A reused key is refused even while the first request runs.
        assert_eq!(
            classify(Some(("other", IN_PROGRESS, "")), "h"),
            Prior::Reused
        );
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert_eq!(parse_key(None), Ok(None));
        assert_eq!(parse_key(Some(" k-1 ")), Ok(Some("k-1".into())));
        for bad in ["", "  ", "has space", "é", &"k".repeat(256)] {
            assert!(parse_key(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprint_tells_requests_apart() {
        assert_ne!(fingerprint(b"ab"), fingerprint(b"ba"));
        assert_eq!(fingerprint(b"a").len(), 16);
    }
}
