//! Health and the OpenAPI document: open routes, no D1.

use crate::error::ApiResult;
use crate::http;
use serde_json::json;
use worker::Response;

/// `openapi.yaml`, converted to JSON at build time by `build.rs`.
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

pub fn health() -> ApiResult<Response> {
    http::json(
        200,
        &json!({ "status": "ok", "service": "mission-control", "version": env!("CARGO_PKG_VERSION") }),
    )
}

pub fn openapi() -> ApiResult<Response> {
    http::raw_json(200, OPENAPI_JSON.to_owned())
}
