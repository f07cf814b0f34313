//! Thin handlers: extract, call the store, respond. `dispatch` is the only entry; which
//! handler a route runs is its entry in the route table (`src/routes.rs`), which is why the
//! handler modules are visible to the crate.

pub(crate) mod archive;
pub(crate) mod factory_errors;
pub(crate) mod followups;
pub(crate) mod help;
pub(crate) mod leases;
pub(crate) mod meta;
pub(crate) mod ops;
pub(crate) mod orders;
pub(crate) mod overview;
pub(crate) mod tasks;
pub(crate) mod webhook;

use crate::auth::authorize;
use crate::config::Config;
use crate::domain::bookmark::{self, parse_bookmark};
use crate::error::ApiResult;
use crate::http;
use crate::mcp;
use crate::router::{self, Route};
use crate::routes;
use crate::store;
use worker::{Env, Request, Response};

/// Resolves, authorises and runs one request; every failure becomes the JSON error shape.
pub async fn dispatch(mut req: Request, env: Env) -> worker::Result<Response> {
    let path = req.path();
    // The raw method: `Request::method()` maps every method it has no variant for (`QUERY`,
    // ...) to GET, which would serve them as reads.
    let method = req.inner().method();
    // Vars and secrets are read once per isolate and handed down.
    let config = Config::shared(&env);
    let outcome = match router::resolve(&method, &path) {
        Ok(route) => run(route, &mut req, &env, &config).await,
        Err(err) => Err(err),
    };
    outcome.or_else(|err| http::error_response(&err))
}

async fn run(
    route: Route<'_>,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> ApiResult<Response> {
    if route == Route::Mcp {
        if let Some(refusal) = mcp::refuse_foreign_origin(req) {
            return refusal;
        }
    }
    if route.needs_auth() {
        let header = req.headers().get("authorization").ok().flatten();
        authorize(&config.auth, header.as_deref())?;
    }
    serve(route, req, env, config).await
}

/// Runs a resolved route for a caller already let in: HTTP after `run`'s checks, or the MCP
/// endpoint running a tool as the equivalent API request (one code path for both).
///
/// A route that touches D1 gets one database for the whole request: with read replication on,
/// a session (`Route::consistency`, anchored at the request's `x-d1-bookmark` if any) whose
/// latest bookmark the answer, error or not, carries back; otherwise the binding itself.
pub async fn serve(
    route: Route<'_>,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> ApiResult<Response> {
    let Some(consistency) = route.consistency() else {
        return routes::call_handler(route, req, env, config, None).await;
    };
    let header = req.headers().get(bookmark::HEADER).ok().flatten();
    let bookmark = parse_bookmark(header.as_deref())?;
    let db = store::open(env, config.read_replication, consistency, bookmark.as_ref())?;
    let mut response = match routes::call_handler(route, req, env, config, Some(&db)).await {
        Ok(response) => response,
        Err(err) => http::error_response(&err)?,
    };
    if let Some(bookmark) = store::bookmark(&db) {
        response.headers_mut().set(bookmark::HEADER, &bookmark)?;
    }
    Ok(response)
}
