//! The route table: every route of the API, in the order of `openapi.yaml`, and everything the
//! Worker decides per route. `router::route_table!` generates the `Route` enum, `resolve`,
//! `Route::consistency`, `Route::auth` and the dispatch from it (see `src/router.rs`).
//!
//! Each path pattern (a slice pattern over the path's segments; a name binds that segment)
//! lists the methods it answers, one line each:
//!
//! ```text
//! METHOD Variant { params } [D1 session, caller] => handler call,
//! ```
//!
//! - `params` are the names the pattern binds that the route keeps (omit `{}` if none).
//! - D1 session: `Primary` (writes, and reads that decide a write), `Replica` (reads that may
//!   be a moment stale) or `None` (no D1: the handler gets no `db`).
//! - caller: `Bearer` (the API token), `Public` or `Signed` (the handler checks a signature);
//!   see `router::Auth`.
//! - the handler call may use `req`, `env`, `config`, `db` and the params, and gives an
//!   `ApiResult<Response>`.
//!
//! Adding a route is one line here (in a new path group if the path is new), its handler in
//! `handlers/`, and its entry in `openapi.yaml`; an MCP tool for it is a further entry in
//! `mcp/tools.rs`.

use crate::handlers::{
    archive, factory_errors, followups, help, leases, meta, ops, orders, overview, tasks, webhook,
};
use crate::mcp;

crate::router::route_table! {
    with (req, env, config, db);

    ["health"] | ["healthz"] => {
        GET Health [None, Public] => meta::health(),
    }
    ["openapi.json"] => {
        GET OpenApi [None, Public] => meta::openapi(env).await,
    }
    ["api", "orders"] => {
        GET ListOrders [Replica, Bearer] => overview::list(req, db).await,
        POST CreateOrder [Primary, Bearer] => orders::create(req, db).await,
    }
    ["api", "orders", order_id] => {
        GET GetOrder { order_id } [Replica, Bearer] => overview::get(db, order_id).await,
    }
    ["api", "orders", order_id, "next"] => {
        POST ClaimNextTask { order_id } [Primary, Bearer] => leases::next(req, db, order_id).await,
    }
    ["api", "tasks", order_id] => {
        GET ListOrderTasks { order_id } [Replica, Bearer] =>
            tasks::list_for_order(req, db, order_id).await,
    }
    ["api", "task", uuid] => {
        GET GetTask { uuid } [Replica, Bearer] => tasks::get(db, uuid).await,
    }
    ["api", "task", uuid, "status"] => {
        POST SetTaskStatus { uuid } [Primary, Bearer] => tasks::set_status(req, db, uuid).await,
    }
    ["api", "task", uuid, "heartbeat"] => {
        POST Heartbeat { uuid } [Primary, Bearer] => leases::heartbeat(req, db, uuid).await,
    }
    ["api", "task", uuid, "help"] => {
        POST TaskHelp { uuid } [Primary, Bearer] => help::help(req, config, db, uuid).await,
    }
    ["api", "ops", "log"] => {
        POST AppendLog [Primary, Bearer] => ops::append(req, db).await,
    }
    ["api", "ops", "logs"] => {
        GET ListLogs [Replica, Bearer] => ops::list(req, db).await,
    }
    // The archive lives in R2, not D1.
    ["api", "ops", "archive"] => {
        GET ArchivedLogs [None, Bearer] => archive::get(req, env).await,
    }
    ["api", "factory", "errors"] => {
        POST ReportErrors [Primary, Bearer] => factory_errors::report(req, env, config, db).await,
    }
    ["api", "factory", "errors", batch_id] => {
        GET ErrorBatchStatus { batch_id } [Replica, Bearer] =>
            factory_errors::status(req, db, batch_id).await,
    }
    ["api", "factory", "errors", batch_id, "requeue"] => {
        POST RequeueErrorBatch { batch_id } [Primary, Bearer] =>
            factory_errors::requeue(env, db, batch_id).await,
    }
    ["api", "followups"] => {
        GET ListFollowups [Replica, Bearer] => ops::followups(req, db).await,
    }
    ["api", "followups", id] => {
        GET GetFollowup { id } [Replica, Bearer] => followups::get(db, id).await,
        PATCH PatchFollowup { id } [Primary, Bearer] => followups::patch(req, db, id).await,
    }
    // GitHub cannot send a bearer token; the handler checks the delivery's signature.
    ["api", "github", "webhook"] => {
        POST GithubWebhook [Primary, Signed] => webhook::receive(req, config, db).await,
    }
    // JSON-RPC only: GET (an SSE stream) and DELETE (a session) answer 405. A tool call opens
    // the D1 session of the API route it runs, so `/mcp` itself opens none.
    ["mcp"] => {
        POST Mcp [None, Bearer] => mcp::handle(req, env, config).await,
    }
}
