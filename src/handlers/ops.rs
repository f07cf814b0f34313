//! `POST /api/ops/log` and `GET /api/ops/logs`: the operation log, written by anyone, read by
//! operators; `GET /api/followups`: the queue of what needs a human.

use crate::domain::followup_query::parse_followup_query;
use crate::domain::oplog::{parse_log_entry, parse_log_query};
use crate::error::ApiResult;
use crate::http::{self, query_pairs, read_json};
use crate::store::{followups, oplog, Db};
use serde_json::json;
use worker::{Request, Response};

/// A log entry is small; its `details` are bounded at 16 KiB on their own.
const MAX_LOG_BODY: usize = 32 * 1024;

pub async fn append(req: &mut Request, db: &Db) -> ApiResult<Response> {
    let body = read_json(req, MAX_LOG_BODY).await?;
    // The entry borrows its strings from the body.
    let entry = parse_log_entry(&body)?;
    let id = oplog::append(db, &entry).await?;
    http::json(200, &json!({ "ok": true, "id": id }))
}

pub async fn list(req: &Request, db: &Db) -> ApiResult<Response> {
    let pairs = query_pairs(req)?;
    let query = parse_log_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(oplog::list_json(db, &query).await?.response(200)?)
}

/// `GET /api/followups`: what needs a human, by order, task, type and status.
pub async fn followups(req: &Request, db: &Db) -> ApiResult<Response> {
    let pairs = query_pairs(req)?;
    let query = parse_followup_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(followups::list_json(db, &query).await?.response(200)?)
}
