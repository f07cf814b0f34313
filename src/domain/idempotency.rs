//! The `Idempotency-Key` header and the fingerprint that ties a key to one request.

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

/// FNV-1a (64 bit) of the canonical request, in hex. Not a security boundary: it only has to
/// notice a key reused for another request, and needs no crypto crate or async subtle call.
pub fn fingerprint(canonical: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = canonical
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("{hash:016x}")
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
    fn fingerprint_is_fnv1a() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint(b"ab"), fingerprint(b"ba"));
    }
}
