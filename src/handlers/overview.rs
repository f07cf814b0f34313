//! `GET /api/orders` and `GET /api/orders/:order_id`: how far every order is, computed by D1.

use crate::domain::ids::is_plausible_id;
use crate::domain::order_query::parse_orders_query;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, query_pairs};
use crate::store::{overview, Db};
use serde_json::json;
use worker::{Request, Response};

pub async fn list(req: &Request, db: &Db) -> ApiResult<Response> {
    let pairs = query_pairs(req)?;
    let query = parse_orders_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let (orders, next) = overview::list(db, query.factory.as_deref(), query.page).await?;
    http::json(
        200,
        &json!({ "orders": orders, "next_cursor": next.map(|id| id.to_string()) }),
    )
}

pub async fn get(db: &Db, order_id: &str) -> ApiResult<Response> {
    let unknown = || ApiError::NotFound {
        resource: "order",
        id: order_id.to_owned(),
    };
    if !is_plausible_id(order_id) {
        return Err(unknown());
    }
    let (summary, leases) = overview::one(db, order_id).await?.ok_or_else(unknown)?;
    let mut body = serde_json::to_value(&summary)
        .map_err(|_| ApiError::Internal("serialising order summary"))?;
    body["active_leases"] = json!(leases);
    http::json(200, &body)
}
