//! `POST /api/ops/log` and `GET /api/ops/logs`: the operation log, written by anyone, read by
//! operators.

use crate::domain::oplog::{parse_log_entry, parse_log_query};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json};
use crate::store::{database, oplog};
use serde_json::json;
use worker::{Env, Request, Response};

/// A log entry is small; its `details` are bounded at 16 KiB on their own.
const MAX_LOG_BODY: usize = 32 * 1024;

pub async fn append(req: &mut Request, env: &Env) -> ApiResult<worker::Result<Response>> {
    let entry = parse_log_entry(&read_json(req, MAX_LOG_BODY).await?)?;
    let db = database(env)?;
    let id = oplog::append(&db, &entry).await?;
    Ok(http::json(200, &json!({ "ok": true, "id": id })))
}

pub async fn list(req: &Request, env: &Env) -> ApiResult<worker::Result<Response>> {
    let url = req
        .url()
        .map_err(|_| ApiError::Internal("request without a URL"))?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let query = parse_log_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let db = database(env)?;
    let (logs, next) = oplog::list(&db, &query).await?;
    Ok(http::json(
        200,
        &json!({ "logs": logs, "next_cursor": next.map(|id| id.to_string()) }),
    ))
}
