//! Thin handlers: extract, call the store, respond. `dispatch` is the only entry.

mod archive;
mod factory_errors;
mod followups;
mod help;
mod leases;
mod meta;
mod ops;
mod orders;
mod overview;
mod tasks;
mod webhook;

use crate::auth::authorize;
use crate::config::Config;
use crate::domain::bookmark::{self, parse_bookmark};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::mcp;
use crate::router::{self, Route};
use crate::store::{self, Db};
use worker::{Env, Request, Response};

/// Resolves, authorises and runs one request; every failure becomes the JSON error shape.
pub async fn dispatch(mut req: Request, env: Env) -> worker::Result<Response> {
    let path = req.path();
    // The raw method: `Request::method()` maps every method it has no variant for (`QUERY`,
    // ...) to GET, which would serve them as reads.
    let method = req.inner().method();
    // Vars and secrets are read once per request and handed down.
    let config = Config::from_env(&env);
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
        return serve_without_d1(route, req, env, config).await;
    };
    let header = req.headers().get(bookmark::HEADER).ok().flatten();
    let bookmark = parse_bookmark(header.as_deref())?;
    let db = store::open(env, config.read_replication, consistency, bookmark.as_ref())?;
    let mut response = match serve_with_d1(route, req, env, config, &db).await {
        Ok(response) => response,
        Err(err) => http::error_response(&err)?,
    };
    if let Some(bookmark) = store::bookmark(&db) {
        response.headers_mut().set(bookmark::HEADER, &bookmark)?;
    }
    Ok(response)
}

async fn serve_without_d1(
    route: Route<'_>,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> ApiResult<Response> {
    match route {
        Route::Health => meta::health(),
        Route::OpenApi => meta::openapi(),
        Route::ArchivedLogs => archive::get(req, env).await,
        Route::Mcp => mcp::handle(req, env, config).await,
        _ => Err(ApiError::Internal("a D1 route without a session")),
    }
}

async fn serve_with_d1(
    route: Route<'_>,
    req: &mut Request,
    env: &Env,
    config: &Config,
    db: &Db,
) -> ApiResult<Response> {
    match route {
        Route::CreateOrder => orders::create(req, db).await,
        Route::ListOrders => overview::list(req, db).await,
        Route::GetOrder { order_id } => overview::get(db, order_id).await,
        Route::ClaimNextTask { order_id } => leases::next(req, db, order_id).await,
        Route::ListOrderTasks { order_id } => tasks::list_for_order(req, db, order_id).await,
        Route::GetTask { uuid } => tasks::get(db, uuid).await,
        Route::SetTaskStatus { uuid } => tasks::set_status(req, db, uuid).await,
        Route::Heartbeat { uuid } => leases::heartbeat(req, db, uuid).await,
        Route::TaskHelp { uuid } => help::help(req, config, db, uuid).await,
        Route::AppendLog => ops::append(req, db).await,
        Route::ListLogs => ops::list(req, db).await,
        Route::ReportErrors => factory_errors::report(req, env, config, db).await,
        Route::ErrorBatchStatus { batch_id } => factory_errors::status(req, db, batch_id).await,
        Route::RequeueErrorBatch { batch_id } => factory_errors::requeue(env, db, batch_id).await,
        Route::ListFollowups => ops::followups(req, db).await,
        Route::GetFollowup { id } => followups::get(db, id).await,
        Route::PatchFollowup { id } => followups::patch(req, db, id).await,
        Route::GithubWebhook => webhook::receive(req, config, db).await,
        Route::Health | Route::OpenApi | Route::ArchivedLogs | Route::Mcp => {
            serve_without_d1(route, req, env, config).await
        }
    }
}
