//! `POST /api/factory/errors`: record a factory's error batch, remediate each item, answer once
//! per key.
//!
//! Order of work: validate everything; claim the idempotency key and record every item in
//! `error_events` and `operation_logs` in one D1 batch; remediate item by item (GitHub, model)
//! as far as the request's budget goes; hand the rest to the remediation queue (answered
//! `queued`, followed up at `status_url`); store the answer on the claim. A retry with the key
//! gets the stored answer, or a 409 while the first request is still working, and never
//! repeats a GitHub write.

use crate::config::Config;
use crate::domain::error_report::{parse_error_batch, ErrorBatch};
use crate::domain::idempotency::{fingerprint, parse_key, HEADER};
use crate::domain::ids::new_token;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{self, read_json};
use crate::remediation::answer::{Action, Answer};
use crate::remediation::batch::remediate_all;
use crate::remediation::{queue, Remediator};
use crate::store::idempotency;
use crate::store::Db;
use crate::store::{classify_write_error, error_batches, error_events, internal, WriteConflict};
use serde_json::json;
use worker::{console_error, Env, Request, Response};

const SCOPE: &str = "factory_errors";
/// 2000 items with a preview each come to about 1.5 MiB; 4 MiB leaves room for context.
const MAX_ERRORS_BODY: usize = 4 << 20;
/// What a client waiting on an in-progress batch is told to wait.
const RETRY_AFTER_SECS: u32 = 5;

pub async fn report(req: &mut Request, env: &Env, config: &Config, db: &Db) -> ApiResult<Response> {
    let header_key = parse_key(req.headers().get(HEADER).ok().flatten().as_deref())?;
    let batch = parse_error_batch(&read_json(req, MAX_ERRORS_BODY).await?)?;
    let key = header_key.or_else(|| batch.batch_id.clone());
    let request_hash = fingerprint(batch.canonical().as_bytes());
    // Every batch is named in D1 (by its key, or by us) so its items can be followed up.
    let batch_ref = key
        .clone()
        .unwrap_or_else(|| format!("EB-{}", new_token(12)));

    if let Some(key) = &key {
        if let Some(answer) = earlier_answer(db, key, &request_hash).await? {
            return Ok(answer);
        }
    }
    if let Err(err) = record(db, &batch, key.as_deref(), &batch_ref, &request_hash).await {
        // Another request claimed the key between our lookup and our write.
        if let (Some(key), WriteConflict::Unique { table }) =
            (&key, classify_write_error(&err.to_string()))
        {
            if table == "idempotency_keys" {
                if let Some(answer) = earlier_answer(db, key, &request_hash).await? {
                    return Ok(answer);
                }
            }
        }
        return Err(internal("recording error batch")(err));
    }

    let remediator = config
        .github
        .as_ref()
        .map(|gh| Remediator::new(gh, config.model.as_ref()));
    let mut answers = remediate_all(db, remediator.as_ref(), &batch.items).await;
    let status_url = queue::status_url(&batch_ref);
    let queued = queue::enqueue_deferred(env, db, &batch_ref, &mut answers, &status_url).await;
    if let Err(err) = record_answers(db, &batch_ref, &answers).await {
        // The answers still reach the factory; only the status route misses them.
        console_error!("recording the answers of error batch {batch_ref}: {err:?}");
    }
    let mut body = json!({
        "ok": true,
        // A batch sent without a key is named only when the factory must follow it up.
        "batch_id": key.clone().or_else(|| queued.then(|| batch_ref.clone())),
        "received": batch.items.len(),
        "remediation": answers,
    });
    if queued {
        body["status_url"] = json!(status_url);
    }
    let body = body.to_string();
    if let Some(key) = &key {
        // An answer with deferred items must not be replayed: the same report has to reach
        // remediation again. Releasing the key allows that; what was done is found again
        // (follow-ups, issues, branches and pull requests are reused, never duplicated).
        // Queued items are answered for good: their outcome is at the status URL.
        let stored = if answers.iter().any(|a| a.action == Action::Deferred) {
            idempotency::release(db, SCOPE, key, &request_hash).await
        } else {
            idempotency::complete(db, SCOPE, key, &request_hash, 200, &body).await
        };
        // The work is done either way; a failure here only costs a retry its replay.
        if let Err(err) = stored {
            console_error!("storing the answer of error batch {key}: {err:?}");
        }
    }
    http::raw_json(200, body)
}

/// Items per page of the status route at most (an item with a patch can be large).
const MAX_STATUS_PAGE: u32 = 200;
const DEFAULT_STATUS_PAGE: u32 = 100;

/// `GET /api/factory/errors/:batch_id?limit&cursor`: where each item of a batch is, with the
/// final answer of those done, in batch order; the cursor is the next position.
pub async fn status(req: &Request, db: &Db, batch_id: &str) -> ApiResult<Response> {
    let mut limit = DEFAULT_STATUS_PAGE;
    let mut from = 0i64;
    let mut errors = Vec::new();
    for (key, value) in http::query_pairs(req)? {
        match key.as_str() {
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_STATUS_PAGE).contains(&n) => limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_STATUS_PAGE}"),
                )),
            },
            "cursor" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => from = n,
                _ => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (counts, items) = error_batches::status(db, batch_id, from, limit)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            resource: "error batch",
            id: batch_id.to_owned(),
        })?;
    let shown: Vec<serde_json::Value> = items.iter().map(item_view).collect();
    let next = items
        .last()
        .filter(|_| items.len() == limit as usize)
        .map(|last| (last.item_index + 1).to_string())
        .filter(|next| next.parse::<i64>().is_ok_and(|n| n < counts.positions));
    http::json(
        200,
        &json!({
            "batch_id": batch_id,
            "received": counts.received,
            "counts": {
                "recorded": counts.recorded,
                "queued": counts.queued,
                "working": counts.working,
                "done": counts.done,
            },
            "items": shown,
            "next_cursor": next,
        }),
    )
}

/// `POST /api/factory/errors/:batch_id/requeue`: an operator's lever for items whose message
/// was lost (a send that failed, a queue purged): every item not done is queued again. Items
/// still in flight get a second message, which finds nothing to take.
pub async fn requeue(env: &Env, db: &Db, batch_id: &str) -> ApiResult<Response> {
    let Some(pending) = error_batches::not_done(db, batch_id).await? else {
        return Err(ApiError::NotFound {
            resource: "error batch",
            id: batch_id.to_owned(),
        });
    };
    let sent = queue::send(env, batch_id, &pending).await?;
    http::json(
        200,
        &json!({ "batch_id": batch_id, "requeued": sent, "status_url": queue::status_url(batch_id) }),
    )
}

/// One item of the status route: its final answer's fields when done, else where it is.
fn item_view(item: &error_batches::ItemState) -> serde_json::Value {
    let state = item.state.as_deref().unwrap_or("recorded");
    let stored = item
        .answer
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok());
    let mut view = match (state, stored) {
        ("done", Some(serde_json::Value::Object(answer))) => serde_json::Value::Object(answer),
        (_, stored) => json!({
            "index": item.item_index,
            "task_uuid": item.task_uuid,
            "error_code": item.error_code,
            "last_error": stored.as_ref().and_then(|s| s.get("last_error")).cloned(),
        }),
    };
    view["state"] = json!(state);
    view["attempts"] = json!(item.attempts);
    view
}

/// The final answers of the items worked in this request, for the status route.
async fn record_answers(db: &Db, batch_id: &str, answers: &[Answer]) -> ApiResult<()> {
    let done: serde_json::Map<String, serde_json::Value> = answers
        .iter()
        .filter(|a| !matches!(a.action, Action::Deferred | Action::Queued { .. }))
        .filter_map(|a| Some((a.index.to_string(), serde_json::to_value(a).ok()?)))
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    error_batches::done_statement(db, batch_id, &done)
        .map_err(internal("binding batch answers"))?
        .run()
        .await
        .map_err(internal("recording batch answers"))
        .map(drop)
}

/// The stored answer for `key`, the 409 while its work runs, or `None` when the key is new.
async fn earlier_answer(db: &Db, key: &str, request_hash: &str) -> ApiResult<Option<Response>> {
    let prior = idempotency::begin(db, SCOPE, key, request_hash).await?;
    http::prior_answer(prior, RETRY_AFTER_SECS)
}

/// The claim on the key (if any) and every item, in `error_events` and `operation_logs`: one
/// batch, so a batch is either recorded whole and claimed, or not at all.
async fn record(
    db: &Db,
    batch: &ErrorBatch,
    key: Option<&str>,
    batch_ref: &str,
    request_hash: &str,
) -> worker::Result<()> {
    let mut statements = Vec::with_capacity(batch.items.len() * 2 + 3);
    if let Some(key) = key {
        statements.extend(idempotency::claim_statements(db, SCOPE, key, request_hash)?);
    }
    statements.extend(error_events::insert_statements(
        db,
        batch_ref,
        &batch.items,
    )?);
    db.batch(statements).await.map(drop)
}
