//! The HTTP client of the Cloudflare docs MCP server: one `tools/call` per query, queries run
//! concurrently, each under its own deadline.

use std::time::Duration;

use futures::future::join_all;

use crate::upstream::http::{fetch_text, json_post};
use crate::upstream::UpstreamError;

pub mod mcp;

use mcp::{DocHit, DocsError};

/// The production server; the `DOCS_MCP_URL` var overrides it (tests point it at a stand-in).
pub const DEFAULT_DOCS_MCP_URL: &str = "https://docs.mcp.cloudflare.com/mcp";

/// A deadline per query. The server embeds the query and searches a vector index, normally well
/// under two seconds; past this an agent is better served by the degraded answer now.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(6);

/// The MCP streamable-HTTP transport requires a client to accept both answer formats.
const ACCEPT: &str = "application/json, text/event-stream";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsClient {
    pub url: String,
    pub timeout: Duration,
}

impl DocsClient {
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            timeout,
        }
    }

    /// Runs one search. A non-2xx answer that carries a JSON-RPC error is reported as that
    /// error; any other non-2xx as [`UpstreamError::Status`].
    pub async fn search(&self, query: &str) -> Result<Vec<DocHit>, DocsError> {
        let req = json_post(
            &self.url,
            &[("accept", ACCEPT)],
            &mcp::request_body(1, query),
        )?;
        let resp = fetch_text(req, self.timeout).await?;
        let content_type = resp.content_type.as_deref();
        if !resp.is_success() {
            if let Some(rpc) = mcp::rpc_error(content_type, &resp.body) {
                return Err(rpc);
            }
            return Err(DocsError::Upstream(UpstreamError::status(
                resp.status,
                &resp.body,
                resp.retry_after_secs,
            )));
        }
        mcp::parse_response(content_type, &resp.body)
    }

    /// Runs every query concurrently. Returns the hit lists of the queries that succeeded (in
    /// query order) and the errors of those that failed; the whole call takes about one timeout
    /// at worst, not one per query.
    pub async fn search_all(&self, queries: &[String]) -> (Vec<Vec<DocHit>>, Vec<DocsError>) {
        let outcomes = join_all(queries.iter().map(|q| self.search(q))).await;
        let mut hits = Vec::with_capacity(outcomes.len());
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(found) => hits.push(found),
                Err(e) => errors.push(e),
            }
        }
        (hits, errors)
    }
}
