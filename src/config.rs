//! Vars and secrets, read once per request into a typed [`Config`]; no `env.var` elsewhere.

use crate::help::client::{DEFAULT_DOCS_MCP_URL, DEFAULT_TIMEOUT as DOCS_TIMEOUT};
use crate::upstream::model::ChatModel;
use std::time::Duration;
use worker::Env;

/// How long a model may take to answer; the help endpoint falls back to an excerpt after it.
const MODEL_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// The Cloudflare docs MCP endpoint (`DOCS_MCP_URL`).
    pub docs_mcp_url: String,
    pub docs_timeout: Duration,
    /// The OpenAI-compatible model (`AI_BASE_URL`, secret `AI_API_KEY`, `AI_MODEL`), when all
    /// three are set. Its `Debug` redacts the key.
    pub model: Option<ChatModel>,
}

impl Config {
    pub fn from_env(env: &Env) -> Self {
        let token = read(env, "API_TOKEN");
        let open = read(env, "AUTH_MODE").is_some_and(|mode| mode.eq_ignore_ascii_case("open"));
        let model = match (
            read(env, "AI_BASE_URL"),
            read(env, "AI_API_KEY"),
            read(env, "AI_MODEL"),
        ) {
            (Some(base), Some(key), Some(model)) => Some(ChatModel::new(
                base.trim_end_matches('/'),
                key,
                model,
                MODEL_TIMEOUT,
            )),
            _ => None,
        };
        Self {
            auth: resolve_auth(token, open),
            docs_mcp_url: read(env, "DOCS_MCP_URL").unwrap_or_else(|| DEFAULT_DOCS_MCP_URL.into()),
            docs_timeout: read(env, "DOCS_TIMEOUT_MS")
                .and_then(|ms| ms.parse().ok())
                .map_or(DOCS_TIMEOUT, Duration::from_millis),
            model,
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
