//! Bearer-token check for `/api/*`, in constant time.

use crate::config::Auth;
use crate::error::ApiError;

/// Lets a request through or says why not.
pub fn authorize(auth: &Auth, authorization: Option<&str>) -> Result<(), ApiError> {
    match auth {
        Auth::Open => Ok(()),
        Auth::Unconfigured => Err(ApiError::AuthNotConfigured),
        Auth::Token(expected) => {
            let presented = authorization
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                })
                .map(str::trim)
                .unwrap_or("");
            if !presented.is_empty() && constant_time_eq(presented.as_bytes(), expected.as_bytes())
            {
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// Compares without returning early, so response timing says nothing about how many leading
/// bytes of a guess were right. (Only the length of the longer input shows.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"\0", b""));
    }

    #[test]
    fn token_mode_needs_the_exact_bearer_token() {
        let auth = Auth::Token("s3cret".into());
        assert_eq!(authorize(&auth, Some("Bearer s3cret")), Ok(()));
        assert_eq!(authorize(&auth, Some("bearer s3cret")), Ok(()));
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("Bearer s3cre"),
            Some("s3cret"),
            Some("Basic s3cret"),
        ] {
            assert_eq!(
                authorize(&auth, bad),
                Err(ApiError::Unauthorized),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn open_and_unconfigured_modes() {
        assert_eq!(authorize(&Auth::Open, None), Ok(()));
        assert_eq!(
            authorize(&Auth::Unconfigured, Some("Bearer x")),
            Err(ApiError::AuthNotConfigured)
        );
    }
}
