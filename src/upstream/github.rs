//! The client for core-github-api, the Worker that proxies GitHub for us: the tree tool route,
//! and the generic Octokit proxy for everything that needs a branch. The operations, fields and
//! statuses relied on are in `docs/upstreams/core-github-api.md`.
//!
//! One [`GitHub`] serves one error batch. It draws every attempt from the request's
//! [`CallBudget`], keeps a record of every call (operation, target, outcome, status, duration;
//! never the key) for the operation log, and one retry budget:
//! a `429`, or a `403` that carries a rate-limit signal, is retried after its `retry-after`
//! only while the batch's budget lasts, so a rate-limited GitHub blocks the items with that
//! reason instead of holding the request open. Callers make writes one at a time (they await
//! each call), as GitHub asks of integrations.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use worker::{Date, Delay, Method, Url};

use super::budget::{BudgetSpent, CallBudget};
use super::http::{build_request, fetch_text, TextResponse};
use super::UpstreamError;
use crate::domain::followup::GithubKind;
use crate::domain::oplog::LogLevel;

/// How long one call may take unless `GITHUB_TIMEOUT_MS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one batch may spend waiting out rate limits unless `GITHUB_RETRY_BUDGET_MS` says
/// otherwise.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(10);
/// Upstream calls per request unless `REMEDIATION_MAX_CALLS` says otherwise: under the free
/// plan's 50 subrequests, with room for the response's own work.
pub const DEFAULT_MAX_CALLS: u32 = 45;
/// Attempts per call, the first included, when rate limited.
const MAX_ATTEMPTS: u32 = 3;
/// The wait when a 429 names no `retry-after` or reset time.
const FALLBACK_WAIT: Duration = Duration::from_secs(1);
/// Label on every issue we open; issues are found again by it and the task id in the title.
pub const ISSUE_LABEL: &str = "mission-control";

/// Where core-github-api is and which repository holds the templates.
#[derive(Clone)]
pub struct GitHubConfig {
    pub base_url: String,
    pub api_key: String,
    pub owner: String,
    pub repo: String,
    pub timeout: Duration,
    pub retry_budget: Duration,
    /// Upstream calls (GitHub and model) one request may make: the size of the request's
    /// [`CallBudget`]. Workers cap subrequests per request (50 on the free plan), and a call
    /// refused by that cap must defer an item, not block it.
    pub max_calls: u32,
}

// Hand-written so that no `{:?}` prints the key.
impl fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("timeout", &self.timeout)
            .field("retry_budget", &self.retry_budget)
            .field("max_calls", &self.max_calls)
            .finish()
    }
}

/// Why a GitHub operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubError {
    /// Timeouts, unreachable service, unexpected statuses.
    Upstream(UpstreamError),
    /// Rate limited, and waiting would exceed the batch's retry budget.
    RateLimited { retry_after_secs: u64 },
    /// A success answer without the fields the contract promises.
    Unexpected(String),
    /// This request's budget of upstream calls is spent (Workers cap subrequests per request):
    /// the work is deferred, not failed.
    BudgetSpent,
}

impl fmt::Display for GitHubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitHubError::Upstream(UpstreamError::Status { status: 401, .. }) => {
                f.write_str("core-github-api refused the API key (HTTP 401)")
            }
            GitHubError::Upstream(err) => write!(f, "core-github-api: {err}"),
            GitHubError::RateLimited { retry_after_secs } => write!(
                f,
                "GitHub rate limit: retry after {retry_after_secs}s, beyond this request's retry budget"
            ),
            GitHubError::Unexpected(what) => write!(f, "core-github-api answered oddly: {what}"),
            GitHubError::BudgetSpent => f.write_str("this request's budget of upstream calls is spent"),
        }
    }
}

impl From<BudgetSpent> for GitHubError {
    fn from(_: BudgetSpent) -> Self {
        GitHubError::BudgetSpent
    }
}

impl From<UpstreamError> for GitHubError {
    fn from(err: UpstreamError) -> Self {
        GitHubError::Upstream(err)
    }
}

impl GitHubError {
    fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Upstream(UpstreamError::Status { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// Whether the same call may well succeed later (rate limits, 5xx, timeouts, an unreachable
    /// service, a spent budget), as opposed to an answer that will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::RateLimited { .. } | GitHubError::BudgetSpent => true,
            GitHubError::Upstream(UpstreamError::Timeout | UpstreamError::Unreachable(_)) => true,
            GitHubError::Upstream(UpstreamError::Status { status, .. }) => {
                *status >= 500 || *status == 429
            }
            GitHubError::Upstream(UpstreamError::BadResponse(_)) | GitHubError::Unexpected(_) => {
                false
            }
        }
    }
}

/// One call as the operation log records it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallRecord {
    pub operation: &'static str,
    pub target: String,
    /// `ok`, `not_found`, `rate_limited`, `timeout`, `unreachable`, `http_status`, ...
    pub outcome: &'static str,
    pub status: Option<u16>,
    pub duration_ms: u64,
}

impl CallRecord {
    /// A call that got its answer (a 404 is an answer) is routine; anything else is a warning.
    pub fn log_level(&self) -> LogLevel {
        if matches!(self.outcome, "ok" | "not_found") {
            LogLevel::Info
        } else {
            LogLevel::Warn
        }
    }
}

/// A file read from the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub text: String,
    /// The blob sha, needed to replace the file.
    pub sha: String,
}

/// A pull request or an issue: what we keep of either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub number: u64,
    pub html_url: String,
}

/// What reconciliation needs to know of a pull request or issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub closed: bool,
    pub merged: bool,
    pub state_reason: Option<String>,
}

/// The repository's files (blobs) and whether GitHub cut the listing short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub files: Vec<String>,
    pub truncated: bool,
}

/// Whether a branch had to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchState {
    Created,
    Existed,
}

pub struct GitHub<'a> {
    config: &'a GitHubConfig,
    budget_left_ms: Cell<u64>,
    /// Upstream calls this request may still make, shared with the model.
    calls: Rc<CallBudget>,
    records: RefCell<Vec<CallRecord>>,
}

enum Call<'b> {
    Tool(&'b str, Value),
    ProxyGet(&'b str, &'b [(&'b str, &'b str)]),
    ProxyPost(&'b str, Value),
}

impl<'a> GitHub<'a> {
    /// Every attempt draws one call from `calls`, which the request's other upstream clients
    /// share ([`GitHubConfig::max_calls`] is its usual size).
    pub fn new(config: &'a GitHubConfig, calls: Rc<CallBudget>) -> Self {
        Self {
            config,
            budget_left_ms: Cell::new(config.retry_budget.as_millis() as u64),
            calls,
            records: RefCell::new(Vec::new()),
        }
    }

    /// `owner/name` of the templates repository.
    pub fn repo_name(&self) -> String {
        format!("{}/{}", self.config.owner, self.config.repo)
    }

    /// The calls made so far, drained: the caller writes them to the operation log.
    pub fn take_calls(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.records.borrow_mut())
    }

    /// Every file of the default branch.
    pub async fn tree(&self) -> Result<Tree, GitHubError> {
        let body = json!({
            "owner": self.config.owner, "repo": self.config.repo, "recursive": true,
        });
        let value = self
            .send("files_tree", "/", Call::Tool("files/tree", body))
            .await?;
        parse_tree(&value)
    }

    pub async fn default_branch(&self) -> Result<String, GitHubError> {
        let value = self
            .send("repos_get", "/", Call::ProxyGet("repos/get", &[]))
            .await?;
        value
            .get("default_branch")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GitHubError::Unexpected("repos/get without default_branch".into()))
    }

    /// The file at `path` on `branch` (the default branch when `None`); `None` when absent.
    pub async fn file(
        &self,
        path: &str,
        branch: Option<&str>,
    ) -> Result<Option<RepoFile>, GitHubError> {
        let mut params = vec![("path", path)];
        if let Some(branch) = branch {
            params.push(("ref", branch));
        }
        match self
            .send(
                "get_content",
                path,
                Call::ProxyGet("repos/getContent", &params),
            )
            .await
        {
            Ok(value) => parse_file(&value).map(Some),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The head commit of `branch`; `None` when there is no such branch.
    pub async fn branch_sha(&self, branch: &str) -> Result<Option<String>, GitHubError> {
        let reference = format!("heads/{branch}");
        match self
            .send(
                "get_ref",
                branch,
                Call::ProxyGet("git/getRef", &[("ref", &reference)]),
            )
            .await
        {
            Ok(value) => value
                .pointer("/object/sha")
                .and_then(Value::as_str)
                .map(|sha| Some(sha.to_owned()))
                .ok_or_else(|| GitHubError::Unexpected("git/getRef without object.sha".into())),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Creates `branch` at `sha`; an existing branch (GitHub's 422) is reported, not an error.
    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<BranchState, GitHubError> {
        let params = json!({ "ref": format!("refs/heads/{branch}"), "sha": sha });
        match self
            .send(
                "create_ref",
                branch,
                Call::ProxyPost("git/createRef", params),
            )
            .await
        {
            Ok(_) => Ok(BranchState::Created),
            Err(err) if err.status() == Some(422) => Ok(BranchState::Existed),
            Err(err) => Err(err),
        }
    }

    /// Commits `text` as `path` on `branch`, replacing the blob `sha` when the file exists.
    pub async fn put_file(
        &self,
        path: &str,
        branch: &str,
        text: &str,
        message: &str,
        sha: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut params = json!({
            "path": path,
            "message": message,
            "content": base64::engine::general_purpose::STANDARD.encode(text),
            "branch": branch,
        });
        if let Some(sha) = sha {
            params["sha"] = json!(sha);
        }
        self.send(
            "commit_file",
            path,
            Call::ProxyPost("repos/createOrUpdateFileContents", params),
        )
        .await
        .map(drop)
    }

    /// The open pull request from `branch`, if there is one.
    pub async fn open_pr_for(&self, branch: &str) -> Result<Option<Item>, GitHubError> {
        let head = format!("{}:{branch}", self.config.owner);
        let value = self
            .send(
                "list_prs",
                branch,
                Call::ProxyGet("pulls/list", &[("head", &head), ("state", "open")]),
            )
            .await?;
        Ok(value
            .as_array()
            .and_then(|prs| prs.first())
            .and_then(parse_item))
    }

    /// Opens a pull request from `head` into `base`; when GitHub says one exists already, that
    /// one is returned.
    pub async fn open_pr(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Item, GitHubError> {
        let params = json!({ "head": head, "base": base, "title": title, "body": body });
        match self
            .send("open_pr", head, Call::ProxyPost("pulls/create", params))
            .await
        {
            Ok(value) => parse_item(&value)
                .ok_or_else(|| GitHubError::Unexpected("pulls/create without html_url".into())),
            Err(err) if err.status() == Some(422) => match self.open_pr_for(head).await? {
                Some(pr) => Ok(pr),
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    /// An open issue of ours whose title contains `marker`.
    pub async fn find_issue(&self, marker: &str) -> Result<Option<Item>, GitHubError> {
        let value = self
            .send(
                "list_issues",
                marker,
                Call::ProxyGet(
                    "issues/listForRepo",
                    &[
                        ("labels", ISSUE_LABEL),
                        ("state", "open"),
                        ("per_page", "100"),
                    ],
                ),
            )
            .await?;
        Ok(value.as_array().and_then(|items| {
            items
                .iter()
                .filter(|item| item.get("pull_request").is_none())
                .find(|item| {
                    item.get("title")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.contains(marker))
                })
                .and_then(parse_item)
        }))
    }

    pub async fn create_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<Item, GitHubError> {
        let params = json!({ "title": title, "body": body, "labels": labels });
        let value = self
            .send(
                "create_issue",
                title,
                Call::ProxyPost("issues/create", params),
            )
            .await?;
        parse_item(&value)
            .ok_or_else(|| GitHubError::Unexpected("issues/create without html_url".into()))
    }

    /// The state of pull request or issue `number`; `None` when GitHub does not know it.
    pub async fn item_state(
        &self,
        kind: GithubKind,
        number: u64,
    ) -> Result<Option<ItemState>, GitHubError> {
        let number_text = number.to_string();
        let (operation, method, param) = match kind {
            GithubKind::Pull => ("get_pr", "pulls/get", "pull_number"),
            GithubKind::Issue => ("get_issue", "issues/get", "issue_number"),
        };
        match self
            .send(
                operation,
                &number_text,
                Call::ProxyGet(method, &[(param, &number_text)]),
            )
            .await
        {
            Ok(value) => Ok(Some(ItemState {
                closed: value.get("state").and_then(Value::as_str) == Some("closed"),
                merged: value.get("merged").and_then(Value::as_bool) == Some(true)
                    || value.get("merged_at").is_some_and(|m| !m.is_null()),
                state_reason: value
                    .get("state_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// One call with the batch's retry budget for rate limits.
    async fn send(
        &self,
        operation: &'static str,
        target: &str,
        call: Call<'_>,
    ) -> Result<Value, GitHubError> {
        let mut attempt = 1;
        loop {
            self.calls.spend()?;
            let started = Date::now().as_millis();
            let outcome = self.attempt(&call).await;
            let duration_ms = Date::now().as_millis().saturating_sub(started);
            let (result, label, status) = match outcome {
                Ok(resp) if resp.is_success() => {
                    let status = Some(resp.status);
                    match serde_json::from_str::<Value>(&resp.body) {
                        Ok(value) => (Ok(value), "ok", status),
                        Err(_) => (
                            Err(GitHubError::Unexpected(format!("{operation}: not JSON"))),
                            "bad_response",
                            status,
                        ),
                    }
                }
                Ok(resp) if resp.is_rate_limited() => {
                    let wait = rate_limit_wait(&resp, Date::now().as_millis() / 1000);
                    let status = Some(resp.status);
                    self.record(operation, target, "rate_limited", status, duration_ms);
                    let wait_ms = wait.as_millis() as u64;
                    if attempt < MAX_ATTEMPTS && wait_ms <= self.budget_left_ms.get() {
                        self.budget_left_ms.set(self.budget_left_ms.get() - wait_ms);
                        Delay::from(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(GitHubError::RateLimited {
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
                Ok(resp) => {
                    let label = if resp.status == 404 {
                        "not_found"
                    } else {
                        "http_status"
                    };
                    let err = UpstreamError::status(resp.status, &resp.body, resp.retry_after_secs);
                    (Err(GitHubError::Upstream(err)), label, Some(resp.status))
                }
                Err(err) => {
                    let label = err.kind();
                    (Err(GitHubError::Upstream(err)), label, None)
                }
            };
            self.record(operation, target, label, status, duration_ms);
            return result;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<TextResponse, UpstreamError> {
        let cfg = self.config;
        let auth = [("x-api-key", cfg.api_key.as_str())];
        let base = cfg.base_url.trim_end_matches('/');
        let request = match call {
            Call::Tool(name, body) => {
                let url = format!("{base}/api/tools/{name}");
                build_request(Method::Post, &url, &auth, Some(body.to_string()))?
            }
            Call::ProxyGet(method, params) => {
                let url = proxy_get_url(base, method, &cfg.owner, &cfg.repo, params)?;
                build_request(Method::Get, &url, &auth, None)?
            }
            Call::ProxyPost(method, params) => {
                let mut params = params.clone();
                params["owner"] = json!(cfg.owner);
                params["repo"] = json!(cfg.repo);
                let url = format!("{base}/api/octokit/rest/{method}");
                let body = json!({ "params": params }).to_string();
                build_request(Method::Post, &url, &auth, Some(body))?
            }
        };
        fetch_text(request, cfg.timeout).await
    }

    fn record(
        &self,
        operation: &'static str,
        target: &str,
        outcome: &'static str,
        status: Option<u16>,
        duration_ms: u64,
    ) {
        self.records.borrow_mut().push(CallRecord {
            operation,
            target: target.to_owned(),
            outcome,
            status,
            duration_ms,
        });
    }
}

/// `GET /api/octokit/rest/{method}?owner=..&repo=..&params`, query-encoded.
pub fn proxy_get_url(
    base: &str,
    method: &str,
    owner: &str,
    repo: &str,
    params: &[(&str, &str)],
) -> Result<String, UpstreamError> {
    let mut url = Url::parse(&format!("{base}/api/octokit/rest/{method}"))
        .map_err(|e| UpstreamError::Unreachable(format!("invalid CORE_GITHUB_API: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("owner", owner).append_pair("repo", repo);
        for (key, value) in params {
            query.append_pair(key, value);
        }
    }
    Ok(url.into())
}

/// How long to wait before retrying a rate-limited call: `retry-after`, else until
/// `x-ratelimit-reset`, else a second.
pub fn rate_limit_wait(resp: &TextResponse, now_epoch_secs: u64) -> Duration {
    if let Some(secs) = resp.retry_after_secs {
        return Duration::from_secs(secs);
    }
    match resp.ratelimit_reset_epoch {
        Some(reset) if reset > now_epoch_secs => Duration::from_secs(reset - now_epoch_secs),
        _ => FALLBACK_WAIT,
    }
}

/// The blobs of a `files/tree` answer.
pub fn parse_tree(value: &Value) -> Result<Tree, GitHubError> {
    let entries = value
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| GitHubError::Unexpected("files/tree without entries".into()))?;
    let files = entries
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("blob"))
        .filter_map(|e| e.get("path").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let truncated = value
        .get("truncated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Tree { files, truncated })
}

/// A `repos/getContent` answer for a file: base64 with embedded newlines, UTF-8 inside.
pub fn parse_file(value: &Value) -> Result<RepoFile, GitHubError> {
    if value.get("type").and_then(Value::as_str) != Some("file") {
        return Err(GitHubError::Unexpected(
            "the path is not a file (a directory or a submodule)".into(),
        ));
    }
    let sha = value
        .get("sha")
        .and_then(Value::as_str)
        .ok_or_else(|| GitHubError::Unexpected("getContent without sha".into()))?;
    let encoded = value
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| GitHubError::Unexpected("getContent without content".into()))?;
    let text = decode_content(encoded)?;
    Ok(RepoFile {
        text,
        sha: sha.to_owned(),
    })
}

pub fn decode_content(encoded: &str) -> Result<String, GitHubError> {
    let compact: String = encoded.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| GitHubError::Unexpected(format!("content is not base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| GitHubError::Unexpected("the file is not UTF-8 text".into()))
}

fn parse_item(value: &Value) -> Option<Item> {
    Some(Item {
        number: value.get("number")?.as_u64()?,
        html_url: value.get("html_url")?.as_str()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(retry_after: Option<u64>, reset: Option<u64>) -> TextResponse {
        TextResponse {
            status: 429,
            content_type: None,
            retry_after_secs: retry_after,
            ratelimit_remaining: Some(0),
            ratelimit_reset_epoch: reset,
            body: String::new(),
        }
    }

    #[test]
    fn waits_for_retry_after_then_reset_then_a_second() {
        assert_eq!(
            rate_limit_wait(&limited(Some(7), Some(2000)), 1000),
            Duration::from_secs(7)
        );
        assert_eq!(
            rate_limit_wait(&limited(None, Some(1030)), 1000),
            Duration::from_secs(30)
        );
        assert_eq!(
            rate_limit_wait(&limited(None, Some(900)), 1000),
            FALLBACK_WAIT
        );
        assert_eq!(rate_limit_wait(&limited(None, None), 1000), FALLBACK_WAIT);
    }

    #[test]
    fn decodes_github_base64_with_newlines() {
        let text = "line one\nline two ###P### é\n".repeat(5);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert_eq!(decode_content(&wrapped.join("\n")).unwrap(), text);
        assert!(decode_content("@@@").is_err());
        let latin1 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x41]);
        assert!(decode_content(&latin1).is_err());
    }

    #[test]
    fn tree_keeps_blobs_only() {
        let value = json!({"entries": [
            {"path": "src", "type": "tree"},
            {"path": "src/a.ts", "type": "blob"},
            {"path": "vendor/lib", "type": "commit"},
        ], "truncated": true});
        assert_eq!(
            parse_tree(&value).unwrap(),
            Tree {
                files: vec!["src/a.ts".into()],
                truncated: true
            }
        );
        assert!(parse_tree(&json!({})).is_err());
    }

    #[test]
    fn file_answers_must_be_files() {
        let file = json!({"type": "file", "sha": "abc", "content": "aGk=\n", "encoding": "base64"});
        assert_eq!(
            parse_file(&file).unwrap(),
            RepoFile {
                text: "hi".into(),
                sha: "abc".into()
            }
        );
        assert!(parse_file(&json!([{"type": "file"}])).is_err());
        assert!(parse_file(&json!({"type": "dir", "sha": "x", "content": ""})).is_err());
    }

    #[test]
    fn proxy_urls_are_query_encoded() {
        let url = proxy_get_url(
            "http://127.0.0.1:9",
            "pulls/list",
            "acme",
            "templates",
            &[
                ("head", "acme:mission-control/ORD-1/AB C"),
                ("state", "open"),
            ],
        )
        .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:9/api/octokit/rest/pulls/list?owner=acme&repo=templates\
             &head=acme%3Amission-control%2FORD-1%2FAB+C&state=open"
        );
    }

    #[test]
    fn errors_never_render_bodies() {
        let err = GitHubError::Upstream(UpstreamError::status(401, "key test-gh-key bad", None));
        assert!(!err.to_string().contains("test-gh-key"));
        assert!(err.to_string().contains("401"));
        let debug = format!(
            "{:?}",
            GitHubConfig {
                base_url: "u".into(),
                api_key: "sekrit".into(),
                owner: "o".into(),
                repo: "r".into(),
                timeout: DEFAULT_TIMEOUT,
                retry_budget: DEFAULT_RETRY_BUDGET,
                max_calls: DEFAULT_MAX_CALLS,
            }
        );
        assert!(!debug.contains("sekrit"));
    }
}
