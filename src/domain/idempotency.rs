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

#[cfg(test)]
mod tests {
    use super::*;

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
