//! `POST /api/orders/:order_id/next` (claim the oldest pending task with a lease) and
//! `POST /api/task/:uuid/heartbeat` (extend it).

use crate::domain::ids::is_plausible_id;
use crate::domain::lease::{parse_claim, parse_heartbeat};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, read_json};
use crate::store::leases::{self, Claim, Heartbeat};
use crate::store::Db;
use serde_json::json;
use worker::{Request, Response};

/// A claim or heartbeat body is a few dozen bytes.
const MAX_LEASE_BODY: usize = 4 * 1024;

pub async fn next(req: &mut Request, db: &Db, order_id: &str) -> ApiResult<Response> {
    let claim = parse_claim(&read_json(req, MAX_LEASE_BODY).await?)?;
    let unknown = || ApiError::NotFound {
        resource: "order",
        id: order_id.to_owned(),
    };
    if !is_plausible_id(order_id) {
        return Err(unknown());
    }
    match leases::claim_next(db, order_id, &claim).await? {
        Claim::Claimed { task, lease } => http::json(200, &json!({ "task": task, "lease": lease })),
        Claim::NoPendingTask => Err(ApiError::NoPendingTask {
            order_id: order_id.to_owned(),
        }),
        Claim::UnknownOrder => Err(unknown()),
    }
}

pub async fn heartbeat(req: &mut Request, db: &Db, uuid: &str) -> ApiResult<Response> {
    let beat = parse_heartbeat(&read_json(req, MAX_LEASE_BODY).await?)?;
    let unknown = || ApiError::NotFound {
        resource: "task",
        id: uuid.to_owned(),
    };
    if !is_plausible_id(uuid) {
        return Err(unknown());
    }
    match leases::heartbeat(db, uuid, beat).await? {
        Heartbeat::Extended(lease) => http::json(200, &json!({ "uuid": uuid, "lease": lease })),
        Heartbeat::UnknownTask => Err(unknown()),
        Heartbeat::LeaseLost => Err(ApiError::LeaseLost {
            uuid: uuid.to_owned(),
        }),
    }
}
