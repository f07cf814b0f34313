//! Thin handlers: extract, call the store, respond. `dispatch` is the only entry.

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
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::mcp;
use crate::router::{self, Route};
use worker::{Env, Request, Response};

/// Resolves, authorises and runs one request; every failure becomes the JSON error shape.
pub async fn dispatch(mut req: Request, env: Env) -> worker::Result<Response> {
    let path = req.path();
    let method = req.method();
    let outcome = match router::resolve(method.as_ref(), &path) {
        Ok(route) => run(route, &mut req, &env).await,
        Err(err) => Err(err),
    };
    outcome.or_else(|err| http::error_response(&err))
}

async fn run(route: Route<'_>, req: &mut Request, env: &Env) -> ApiResult<Response> {
    if route == Route::Mcp {
        if let Some(refusal) = mcp::refuse_foreign_origin(req) {
            return refusal.map_err(response_failed);
        }
    }
    if route.needs_auth() {
        let config = Config::from_env(env);
        let header = req.headers().get("authorization").ok().flatten();
        authorize(&config.auth, header.as_deref())?;
    }
    serve(route, req, env).await
}

/// Runs a resolved route for a caller already let in: HTTP after `run`'s checks, or the MCP
/// endpoint running a tool as the equivalent API request (one code path for both).
pub async fn serve(route: Route<'_>, req: &mut Request, env: &Env) -> ApiResult<Response> {
    // Routes written since `From<worker::Error> for ApiError` answer `ApiResult<Response>`.
    let response = match route {
        Route::ListOrders => return overview::list(req, env).await,
        Route::GetOrder { order_id } => return overview::get(env, order_id).await,
        Route::ClaimNextTask { order_id } => return leases::next(req, env, order_id).await,
        Route::Heartbeat { uuid } => return leases::heartbeat(req, env, uuid).await,
        Route::GetFollowup { id } => return followups::get(env, id).await,
        Route::PatchFollowup { id } => return followups::patch(req, env, id).await,
        Route::GithubWebhook => return webhook::receive(req, env).await,
        Route::ErrorBatchStatus { batch_id } => {
            return factory_errors::status(req, env, batch_id).await
        }
        Route::RequeueErrorBatch { batch_id } => {
            return factory_errors::requeue(env, batch_id).await
        }
        Route::Health => meta::health(),
        Route::OpenApi => meta::openapi(),
        Route::CreateOrder => orders::create(req, env).await?,
        Route::ListOrderTasks { order_id } => tasks::list_for_order(env, order_id).await?,
        Route::GetTask { uuid } => tasks::get(env, uuid).await?,
        Route::SetTaskStatus { uuid } => tasks::set_status(req, env, uuid).await?,
        Route::TaskHelp { uuid } => help::help(req, env, uuid).await?,
        Route::AppendLog => ops::append(req, env).await?,
        Route::ListLogs => ops::list(req, env).await?,
        Route::ReportErrors => factory_errors::report(req, env).await?,
        Route::ListFollowups => ops::followups(req, env).await?,
        Route::Mcp => mcp::handle(req, env).await?,
    };
    response.map_err(response_failed)
}

fn response_failed(err: worker::Error) -> ApiError {
    worker::console_error!("building response: {err}");
    ApiError::Internal("building response")
}
