//! Vars and secrets, read once per request into a typed [`Config`]; no `env.var` elsewhere.

use worker::Env;

/// How `/api/*` is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Requests must carry `Authorization: Bearer <token>`.
    Token(String),
    /// `AUTH_MODE = "open"`: no token needed. For local development only.
    Open,
    /// No `API_TOKEN` and not open: `/api/*` answers 503 until an operator sets one.
    Unconfigured,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub auth: Auth,
}

impl Config {
    pub fn from_env(env: &Env) -> Self {
        let token = read(env, "API_TOKEN");
        let open = read(env, "AUTH_MODE").is_some_and(|mode| mode.eq_ignore_ascii_case("open"));
        Self {
            auth: resolve_auth(token, open),
        }
    }
}

/// A token, once set, always wins over `AUTH_MODE = "open"`: forgetting the var in production
/// must not open the API.
pub fn resolve_auth(token: Option<String>, open: bool) -> Auth {
    match (token, open) {
        (Some(token), _) => Auth::Token(token),
        (None, true) => Auth::Open,
        (None, false) => Auth::Unconfigured,
    }
}

/// A var or secret as a non-empty trimmed string. Secrets and vars share one namespace in a
/// Worker's env, and `.dev.vars` provides either, so both accessors are tried.
pub(crate) fn read(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_wins_over_open_mode() {
        assert_eq!(
            resolve_auth(Some("t".into()), true),
            Auth::Token("t".into())
        );
        assert_eq!(resolve_auth(None, true), Auth::Open);
        assert_eq!(resolve_auth(None, false), Auth::Unconfigured);
    }
}
