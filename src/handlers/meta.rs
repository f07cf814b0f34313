//! Health and the OpenAPI document: open routes, no D1.

use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::upstream::http::new_request;
use serde_json::json;
use worker::{console_error, Env, Headers, Method, Response};

/// The static assets (wrangler.toml's `[assets]`), where `build.rs` puts `openapi.yaml`
/// converted to JSON.
const ASSETS_BINDING: &str = "ASSETS";
/// Any origin does: the assets binding looks only at the path.
const OPENAPI_ASSET_URL: &str = "https://assets.invalid/openapi.json";

pub fn health() -> ApiResult<Response> {
    http::json(
        200,
        &json!({ "status": "ok", "service": "mission-control", "version": env!("CARGO_PKG_VERSION") }),
    )
}

/// The document as the Worker always answered it (`application/json`, no asset headers).
/// `/openapi.json` reaches the Worker first (wrangler.toml's `run_worker_first`), so that
/// methods other than GET get the API's 405.
pub async fn openapi(env: &Env) -> ApiResult<Response> {
    const MISSING: &str = "openapi.json is missing from the static assets (built by build.rs)";
    let assets = env.assets(ASSETS_BINDING)?;
    // Built by `new_request` rather than `Fetcher::fetch(url, init)`, whose `RequestInit` path
    // links worker's whole `cf` options serialiser into the wasm for nothing.
    let request = new_request(Method::Get, OPENAPI_ASSET_URL, &Headers::new(), None)?;
    let mut asset = assets.fetch_request(request).await?;
    if asset.status_code() != 200 {
        console_error!(
            "{MISSING}: the ASSETS binding answered {}",
            asset.status_code()
        );
        return Err(ApiError::Internal(MISSING));
    }
    http::raw_json(200, asset.text().await?)
}
