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
use crate::router::{self, Route};
use crate::store::{self, Db};
use worker::{Env, Request, Response};

/// Resolves, authorises and runs one request; every failure becomes the JSON error shape.
/// A route that touches D1 gets one session for the whole request, and its answer (error or
/// not) carries the session's latest bookmark in `x-d1-bookmark`.
pub async fn dispatch(mut req: Request, env: Env) -> worker::Result<Response> {
    let path = req.path();
    let method = req.method();
    let route = match router::resolve(method.as_ref(), &path) {
        Ok(route) => route,
        Err(err) => return http::error_response(&err),
    };
    let db = match prepare(route, &req, &env) {
        Ok(db) => db,
        Err(err) => return http::error_response(&err),
    };
    let mut response = run(route, &mut req, &env, db.as_ref())
        .await
        .or_else(|err| http::error_response(&err))?;
    if let Some(bookmark) = db.as_ref().and_then(store::bookmark) {
        response.headers_mut().set(bookmark::HEADER, &bookmark)?;
    }
    Ok(response)
}

/// Everything checked before the route runs: the bearer token, the bookmark header, and the
/// route's D1 session (none for routes that never touch D1).
fn prepare(route: Route<'_>, req: &Request, env: &Env) -> ApiResult<Option<Db>> {
    if route.needs_auth() {
        let config = Config::from_env(env);
        let header = req.headers().get("authorization").ok().flatten();
        authorize(&config.auth, header.as_deref())?;
    }
    let Some(consistency) = route.consistency() else {
        return Ok(None);
    };
    let header = req.headers().get(bookmark::HEADER).ok().flatten();
    let bookmark = parse_bookmark(header.as_deref())?;
    store::open(env, consistency, bookmark.as_ref()).map(Some)
}

async fn run(
    route: Route<'_>,
    req: &mut Request,
    env: &Env,
    db: Option<&Db>,
) -> ApiResult<Response> {
    let Some(db) = db else {
        let response = match route {
            Route::Health => meta::health(),
            Route::OpenApi => meta::openapi(),
            Route::ArchivedLogs => return archive::get(req, env).await,
            _ => return Err(ApiError::Internal("a D1 route without a session")),
        };
        return response.map_err(building_response);
    };
    // Routes written since `From<worker::Error> for ApiError` answer `ApiResult<Response>`.
    let response = match route {
        Route::ListOrders => return overview::list(req, db).await,
        Route::GetOrder { order_id } => return overview::get(db, order_id).await,
        Route::ClaimNextTask { order_id } => return leases::next(req, db, order_id).await,
        Route::Heartbeat { uuid } => return leases::heartbeat(req, db, uuid).await,
        Route::GetFollowup { id } => return followups::get(db, id).await,
        Route::PatchFollowup { id } => return followups::patch(req, db, id).await,
        Route::GithubWebhook => return webhook::receive(req, env, db).await,
        Route::ErrorBatchStatus { batch_id } => {
            return factory_errors::status(req, db, batch_id).await
        }
        Route::RequeueErrorBatch { batch_id } => {
            return factory_errors::requeue(env, db, batch_id).await
        }
        Route::Health => meta::health(),
        Route::OpenApi => meta::openapi(),
        Route::ArchivedLogs => return archive::get(req, env).await,
        Route::CreateOrder => orders::create(req, db).await?,
        Route::ListOrderTasks { order_id } => tasks::list_for_order(db, order_id).await?,
        Route::GetTask { uuid } => tasks::get(db, uuid).await?,
        Route::SetTaskStatus { uuid } => tasks::set_status(req, db, uuid).await?,
        Route::TaskHelp { uuid } => help::help(req, env, db, uuid).await?,
        Route::AppendLog => ops::append(req, db).await?,
        Route::ListLogs => ops::list(req, db).await?,
        Route::ReportErrors => factory_errors::report(req, env, db).await?,
        Route::ListFollowups => ops::followups(req, db).await?,
    };
    response.map_err(building_response)
}

fn building_response(err: worker::Error) -> ApiError {
    worker::console_error!("building response: {err}");
    ApiError::Internal("building response")
}
