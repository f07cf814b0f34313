//! Mission Control: a task orchestrator for AI coding-agent factories, as one Cloudflare Worker.
//!
//! Routes (see `openapi.yaml`, served at `/openapi.json`):
//! - `GET /health`, `GET /openapi.json`: open.
//! - `POST /api/orders`: create an order and its tasks in one D1 batch (`Idempotency-Key` aware).
//! - `GET /api/tasks/:order_id`: an order's tasks, for factories pulling their list.
//! - `GET /api/task/:uuid`, `POST /api/task/:uuid/status`: one task; compare-and-set status.
//! - `POST /api/task/:uuid/help`: documentation-grounded help (docs MCP server, optional model).
//! - `POST /api/ops/log`, `GET /api/ops/logs`: the operation log, written by all, read by operators;
//!   `GET /api/ops/archive`: its rows past retention, archived to R2 (`archive`).
//! - `POST /api/factory/errors`: a factory's error batch, recorded, then remediated through
//!   GitHub (`remediation`), answered once per key.
//! - `GET /api/followups`: the follow-up queue (blocked tasks, warnings, applied fixes);
//!   `GET|PATCH /api/followups/:id`: one follow-up and its lifecycle.
//! - `GET /api/orders`, `GET /api/orders/:id`: the orders overview; `POST /api/orders/:id/next`
//!   and `POST /api/task/:uuid/heartbeat`: leases.
//! - `POST /api/github/webhook`: signed GitHub deliveries that close follow-ups.
//! - `POST /mcp`: the task routes as MCP tools for coding agents (`mcp`).
//!
//! The `scheduled` handler (every minute) sweeps expired leases, reconciles follow-ups with
//! GitHub, deletes expired rows and moves operation-log rows past retention to R2.
//!
//! A request flows `router` -> `handlers` -> `store` (D1); values are checked in `domain`
//! before anything is written, and every failure is an `error::ApiError`
//! (see `docs/ARCHITECTURE.md`).

pub mod archive;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod help;
pub mod http;
pub mod json_text;
pub mod mcp;
pub mod remediation;
pub mod router;
pub mod routes;
pub mod scheduled;
pub mod sort;
pub mod store;
pub mod upstream;

use remediation::queue::QueuedItem;
use worker::{
    event, Context, Env, MessageBatch, Request, Response, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    handlers::dispatch(req, env).await
}

#[event(queue)]
async fn queue(batch: MessageBatch<QueuedItem>, env: Env, _ctx: Context) -> worker::Result<()> {
    remediation::queue::consume(batch, &env).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&env).await;
}
