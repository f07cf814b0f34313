//! `POST /api/factory/errors`: record a factory's error batch, remediate each item, answer once
//! per key.
//!
//! Order of work: validate everything; claim the idempotency key and record every item in
//! `error_events` and `operation_logs` in one D1 batch; remediate item by item (GitHub, model);
//! store the answer on the claim. A retry with the key gets the stored answer, or a 409 while
//! the first request is still working, and never repeats a GitHub write.

use super::orders::replay;
use crate::config::Config;
use crate::domain::error_report::{parse_error_batch, ErrorBatch};
use crate::domain::idempotency::{fingerprint, parse_key, HEADER};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json};
use crate::remediation::answer::Action;
use crate::remediation::batch::remediate_all;
use crate::remediation::Remediator;
use crate::store::idempotency::{self, IN_PROGRESS};
use crate::store::{classify_write_error, database, error_events, internal, WriteConflict};
use serde_json::json;
use worker::{console_error, D1Database, Env, Request, Response};

const SCOPE: &str = "factory_errors";
/// 2000 items with a preview each come to about 1.5 MiB; 4 MiB leaves room for context.
const MAX_ERRORS_BODY: usize = 4 << 20;
/// What a client waiting on an in-progress batch is told to wait.
const RETRY_AFTER_SECS: u32 = 5;

pub async fn report(req: &mut Request, env: &Env) -> ApiResult<worker::Result<Response>> {
    let header_key = parse_key(req.headers().get(HEADER).ok().flatten().as_deref())?;
    let batch = parse_error_batch(&read_json(req, MAX_ERRORS_BODY).await?)?;
    let key = header_key.or_else(|| batch.batch_id.clone());
    let request_hash = fingerprint(batch.canonical().as_bytes());
    let db = database(env)?;

    if let Some(key) = &key {
        if let Some(answer) = earlier_answer(&db, key, &request_hash).await? {
            return Ok(answer);
        }
    }
    if let Err(err) = record(&db, &batch, key.as_deref(), &request_hash).await {
        // Another request claimed the key between our lookup and our write.
        if let (Some(key), WriteConflict::Unique { table }) =
            (&key, classify_write_error(&err.to_string()))
        {
            if table == "idempotency_keys" {
                if let Some(answer) = earlier_answer(&db, key, &request_hash).await? {
                    return Ok(answer);
                }
            }
        }
        return Err(internal("recording error batch")(err));
    }

    let config = Config::from_env(env);
    let remediator = config
        .github
        .as_ref()
        .map(|gh| Remediator::new(gh, config.model.as_ref()));
    let answers = remediate_all(&db, remediator.as_ref(), &batch.items).await;
    let body = json!({
        "ok": true,
        "batch_id": key,
        "received": batch.items.len(),
        "remediation": answers,
    })
    .to_string();
    if let Some(key) = &key {
        // An answer with deferred items must not be replayed: the same report has to reach
        // remediation again. Releasing the key allows that; what was done is found again
        // (follow-ups, issues, branches and pull requests are reused, never duplicated).
        let stored = if answers.iter().any(|a| a.action == Action::Deferred) {
            idempotency::release(&db, SCOPE, key, &request_hash).await
        } else {
            idempotency::complete(&db, SCOPE, key, &request_hash, 200, &body).await
        };
        // The work is done either way; a failure here only costs a retry its replay.
        if let Err(err) = stored {
            console_error!("storing the answer of error batch {key}: {err:?}");
        }
    }
    Ok(http::raw_json(200, body))
}

/// The stored answer for `key`, the 409 while its work runs, or `None` when the key is new.
async fn earlier_answer(
    db: &D1Database,
    key: &str,
    request_hash: &str,
) -> ApiResult<Option<worker::Result<Response>>> {
    match idempotency::find(db, SCOPE, key).await? {
        None => Ok(None),
        Some(stored) if stored.request_hash != request_hash => Err(ApiError::IdempotencyKeyReused),
        Some(stored) if stored.status == IN_PROGRESS => Err(ApiError::BatchInProgress {
            retry_after_secs: RETRY_AFTER_SECS,
        }),
        Some(stored) => replay(stored, request_hash).map(Some),
    }
}

/// The claim on the key (if any) and every item, in `error_events` and `operation_logs`: one
/// batch, so a batch is either recorded whole and claimed, or not at all.
async fn record(
    db: &D1Database,
    batch: &ErrorBatch,
    key: Option<&str>,
    request_hash: &str,
) -> worker::Result<()> {
    let mut statements = Vec::with_capacity(batch.items.len() * 2 + 3);
    if let Some(key) = key {
        statements.extend(idempotency::claim_statements(db, SCOPE, key, request_hash)?);
    }
    statements.extend(error_events::insert_statements(db, &batch.items)?);
    db.batch(statements).await.map(drop)
}
