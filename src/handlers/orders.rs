//! `POST /api/orders`: validate, draw ids, write everything in one batch, answer once per key.

use crate::domain::idempotency::{fingerprint, parse_key, HEADER};
use crate::domain::ids::{new_order_id, new_task_ids};
use crate::domain::order::parse_new_order;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json, MAX_BODY_BYTES};
use crate::store::idempotency;
use crate::store::internal;
use crate::store::orders::{
    assign_ids, insert, IdempotencyRecord, InsertOutcome, IDEMPOTENCY_SCOPE, MAX_ID_ATTEMPTS,
};
use crate::store::Db;
use worker::{console_error, Request, Response};

const CREATED: u16 = 201;
/// Orders are answered in the batch that writes them, so no claim is ever left running; a
/// client told to wait would only meet one from a request that died mid-batch.
const RETRY_AFTER_SECS: u32 = 1;

pub async fn create(req: &mut Request, db: &Db) -> ApiResult<Response> {
    let key = parse_key(req.headers().get(HEADER).ok().flatten().as_deref())?;
    let body = read_json(req, MAX_BODY_BYTES).await?;
    let order = parse_new_order(&body)?;

    // The fingerprint covers the validated order, so a retry that differs only in whitespace
    // or `./` prefixes still counts as the same request.
    let request_hash = fingerprint(
        serde_json::to_string(&order)
            .map_err(|_| ApiError::Internal("serialising order"))?
            .as_bytes(),
    );
    if let Some(key) = &key {
        let prior = idempotency::begin(db, IDEMPOTENCY_SCOPE, key, &request_hash).await?;
        if let Some(answer) = http::prior_answer(prior, RETRY_AFTER_SECS)? {
            return Ok(answer);
        }
    }

    for _ in 0..MAX_ID_ATTEMPTS {
        let created = assign_ids(&order, new_order_id(), new_task_ids(order.task_count()));
        let answer = serde_json::to_string(&created)
            .map_err(|_| ApiError::Internal("serialising created order"))?;
        let record = key.as_deref().map(|key| IdempotencyRecord {
            key,
            request_hash: &request_hash,
            status: CREATED,
            body: &answer,
        });
        match insert(db, &created, record.as_ref()).await {
            InsertOutcome::Inserted => return http::raw_json(CREATED, answer),
            InsertOutcome::IdCollision => continue,
            InsertOutcome::KeyTaken => {
                return replay_winner(db, key.as_deref(), &request_hash).await
            }
            InsertOutcome::Failed(err) => return Err(internal("writing order")(err)),
        }
    }
    console_error!("no free ids after {MAX_ID_ATTEMPTS} attempts");
    Err(ApiError::Internal("drawing free ids"))
}

/// A concurrent request with our key committed first: answer with what it answered.
async fn replay_winner(db: &Db, key: Option<&str>, request_hash: &str) -> ApiResult<Response> {
    let key = key.ok_or(ApiError::Internal("idempotency conflict without a key"))?;
    let prior = idempotency::begin(db, IDEMPOTENCY_SCOPE, key, request_hash).await?;
    match http::prior_answer(prior, RETRY_AFTER_SECS)? {
        Some(answer) => Ok(answer),
        None => Err(ApiError::Internal(
            "idempotency key vanished after conflict",
        )),
    }
}
