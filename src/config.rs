//! Vars and secrets, read once per isolate into a typed [`Config`]; no `env.var` elsewhere.

use crate::store::ReadReplication;
use crate::upstream::docs::{DEFAULT_DOCS_MCP_URL, DEFAULT_TIMEOUT as DOCS_TIMEOUT};
use crate::upstream::github::{self, GitHubConfig};
use crate::upstream::model::ChatModel;
use std::rc::Rc;
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
    /// core-github-api (`CORE_GITHUB_API`, secret `GITHUB_API_KEY`, `GITHUB_OWNER`,
    /// `GITHUB_REPO`), when all four are set. Its `Debug` redacts the key.
    pub github: Option<GitHubConfig>,
    /// The secret GitHub signs webhook deliveries with (`GITHUB_WEBHOOK_SECRET`).
    pub webhook_secret: Option<Secret>,
    /// Days an operation log row stays in D1 (`OPS_LOG_RETENTION_DAYS`) before the scheduled
    /// handler archives it to R2 (or deletes it, with no bucket bound).
    pub ops_log_retention_days: u32,
    /// The first delay before a queued item is tried again (`REMEDIATION_RETRY_BASE_SECONDS`);
    /// it doubles per attempt.
    pub remediation_retry_base_secs: u32,
    /// Whether the D1 database has read replication on (`D1_READ_REPLICATION = "auto"`), and
    /// so whether a request opens a D1 session (see `store::Db`).
    pub read_replication: ReadReplication,
}

pub const DEFAULT_OPS_LOG_RETENTION_DAYS: u32 = 30;

/// A whole number of days from 1 to ten years; anything else is the default (a typo must not
/// make the archive take every row at once).
pub fn retention_days(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|d| (1..=3650).contains(d))
        .unwrap_or(DEFAULT_OPS_LOG_RETENTION_DAYS)
}

/// Long enough for a GitHub outage or rate-limit window to pass between attempts.
const DEFAULT_RETRY_BASE_SECS: u32 = 30;

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

thread_local! {
    static SHARED: std::cell::OnceCell<Rc<Config>> = const { std::cell::OnceCell::new() };
}

impl Config {
    /// The isolate's configuration, read from `env` on first use. A Worker's vars and secrets
    /// are fixed for the life of an isolate (changing one deploys a new version, which runs in
    /// new isolates), so reading them again per request, about thirty calls into JavaScript,
    /// would only cost time.
    pub fn shared(env: &Env) -> Rc<Config> {
        SHARED.with(|cell| cell.get_or_init(|| Rc::new(Config::from_env(env))).clone())
    }

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
        let github = match (
            read(env, "CORE_GITHUB_API"),
            read(env, "GITHUB_API_KEY"),
            read(env, "GITHUB_OWNER"),
            read(env, "GITHUB_REPO"),
        ) {
            (Some(base_url), Some(api_key), Some(owner), Some(repo)) => Some(GitHubConfig {
                base_url: base_url.trim_end_matches('/').to_owned(),
                api_key,
                owner,
                repo,
                timeout: millis(env, "GITHUB_TIMEOUT_MS").unwrap_or(github::DEFAULT_TIMEOUT),
                retry_budget: millis(env, "GITHUB_RETRY_BUDGET_MS")
                    .unwrap_or(github::DEFAULT_RETRY_BUDGET),
                max_calls: read(env, "REMEDIATION_MAX_CALLS")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(github::DEFAULT_MAX_CALLS),
            }),
            _ => None,
        };
        Self {
            auth: resolve_auth(token, open),
            docs_mcp_url: read(env, "DOCS_MCP_URL").unwrap_or_else(|| DEFAULT_DOCS_MCP_URL.into()),
            docs_timeout: millis(env, "DOCS_TIMEOUT_MS").unwrap_or(DOCS_TIMEOUT),
            model,
            github,
            webhook_secret: read(env, "GITHUB_WEBHOOK_SECRET").map(Secret),
            ops_log_retention_days: retention_days(read(env, "OPS_LOG_RETENTION_DAYS").as_deref()),
            remediation_retry_base_secs: read(env, "REMEDIATION_RETRY_BASE_SECONDS")
                .and_then(|n| n.parse().ok())
                .unwrap_or(DEFAULT_RETRY_BASE_SECS),
            read_replication: ReadReplication::from_var(
                read(env, "D1_READ_REPLICATION").as_deref(),
            ),
        }
    }
}

/// A duration var given in milliseconds; unparsable values fall back to the default.
fn millis(env: &Env, name: &str) -> Option<Duration> {
    read(env, name)
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
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
    fn secrets_never_show_in_debug() {
        let shown = format!("{:?}", Secret("hunter2".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn retention_is_whole_days_or_the_default() {
        assert_eq!(retention_days(None), 30);
        assert_eq!(retention_days(Some("7")), 7);
        for bad in ["0", "-1", "7.5", "x", "3651"] {
            assert_eq!(retention_days(Some(bad)), 30, "{bad}");
        }
    }

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
