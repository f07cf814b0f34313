//! The one route table, in the order of `openapi.yaml`: method and path to a [`Route`].

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    OpenApi,
    CreateOrder,
    ListOrders,
    GetOrder { order_id: &'a str },
    ClaimNextTask { order_id: &'a str },
    ListOrderTasks { order_id: &'a str },
    GetTask { uuid: &'a str },
    SetTaskStatus { uuid: &'a str },
    Heartbeat { uuid: &'a str },
    TaskHelp { uuid: &'a str },
    AppendLog,
    ListLogs,
    ReportErrors,
    ErrorBatchStatus { batch_id: &'a str },
    RequeueErrorBatch { batch_id: &'a str },
    ListFollowups,
    GetFollowup { id: &'a str },
    PatchFollowup { id: &'a str },
    GithubWebhook,
    Mcp,
}

impl Route<'_> {
    /// Whether the route sits behind the bearer token. The webhook is signed instead: GitHub
    /// cannot send a bearer token.
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Route::Health | Route::OpenApi | Route::GithubWebhook)
    }
}

/// Resolves a request line. `HEAD` is served as `GET` by the runtime's rules for bodies, so it
/// is accepted wherever `GET` is.
pub fn resolve<'a>(method: &str, path: &'a str) -> Result<Route<'a>, ApiError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Every method a path answers, with its route; the first whose method matches wins.
    let (allowed, routes): (&'static [&'static str], [Option<Route<'a>>; 2]) =
        match segments.as_slice() {
            ["health"] | ["healthz"] => (GET, [Some(Route::Health), None]),
            ["openapi.json"] => (GET, [Some(Route::OpenApi), None]),
            ["api", "orders"] => (
                GET_POST,
                [Some(Route::ListOrders), Some(Route::CreateOrder)],
            ),
            ["api", "orders", order_id] => (GET, [Some(Route::GetOrder { order_id }), None]),
            ["api", "orders", order_id, "next"] => {
                (POST, [Some(Route::ClaimNextTask { order_id }), None])
            }
            ["api", "tasks", order_id] => (GET, [Some(Route::ListOrderTasks { order_id }), None]),
            ["api", "task", uuid] => (GET, [Some(Route::GetTask { uuid }), None]),
            ["api", "task", uuid, "status"] => (POST, [Some(Route::SetTaskStatus { uuid }), None]),
            ["api", "task", uuid, "heartbeat"] => (POST, [Some(Route::Heartbeat { uuid }), None]),
            ["api", "task", uuid, "help"] => (POST, [Some(Route::TaskHelp { uuid }), None]),
            ["api", "ops", "log"] => (POST, [Some(Route::AppendLog), None]),
            ["api", "ops", "logs"] => (GET, [Some(Route::ListLogs), None]),
            ["api", "factory", "errors"] => (POST, [Some(Route::ReportErrors), None]),
            ["api", "factory", "errors", batch_id] => {
                (GET, [Some(Route::ErrorBatchStatus { batch_id }), None])
            }
            ["api", "factory", "errors", batch_id, "requeue"] => {
                (POST, [Some(Route::RequeueErrorBatch { batch_id }), None])
            }
            ["api", "followups"] => (GET, [Some(Route::ListFollowups), None]),
            ["api", "followups", id] => (
                GET_PATCH,
                [
                    Some(Route::GetFollowup { id }),
                    Some(Route::PatchFollowup { id }),
                ],
            ),
            ["api", "github", "webhook"] => (POST, [Some(Route::GithubWebhook), None]),
            // JSON-RPC only: GET (an SSE stream) and DELETE (a session) answer 405.
            ["mcp"] => (POST, [Some(Route::Mcp), None]),
            _ => return Err(ApiError::RouteNotFound),
        };
    let method = if method == "HEAD" { "GET" } else { method };
    allowed
        .iter()
        .zip(routes)
        .find(|(m, _)| **m == method)
        .and_then(|(_, route)| route)
        .ok_or(ApiError::MethodNotAllowed { allowed })
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const GET_POST: &[&str] = &["GET", "POST"];
const GET_PATCH: &[&str] = &["GET", "PATCH"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_route() {
        assert_eq!(resolve("GET", "/health"), Ok(Route::Health));
        assert_eq!(resolve("GET", "/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(resolve("POST", "/api/orders"), Ok(Route::CreateOrder));
        assert_eq!(resolve("POST", "/api/orders/"), Ok(Route::CreateOrder));
        assert_eq!(
            resolve("GET", "/api/tasks/ORD-abc123"),
            Ok(Route::ListOrderTasks {
                order_id: "ORD-abc123"
            })
        );
        assert_eq!(
            resolve("GET", "/api/task/ABC123"),
            Ok(Route::GetTask { uuid: "ABC123" })
        );
        assert_eq!(
            resolve("POST", "/api/task/ABC123/status"),
            Ok(Route::SetTaskStatus { uuid: "ABC123" })
        );
        assert_eq!(
            resolve("POST", "/api/task/ABC123/help"),
            Ok(Route::TaskHelp { uuid: "ABC123" })
        );
        assert_eq!(resolve("POST", "/api/ops/log"), Ok(Route::AppendLog));
        assert_eq!(resolve("GET", "/api/ops/logs"), Ok(Route::ListLogs));
        assert_eq!(resolve("GET", "/api/followups"), Ok(Route::ListFollowups));
        assert_eq!(
            resolve("POST", "/api/factory/errors"),
            Ok(Route::ReportErrors)
        );
        assert_eq!(resolve("GET", "/api/orders"), Ok(Route::ListOrders));
        assert_eq!(
            resolve("GET", "/api/factory/errors/EB-1"),
            Ok(Route::ErrorBatchStatus { batch_id: "EB-1" })
        );
        assert_eq!(
            resolve("GET", "/api/orders/ORD-1"),
            Ok(Route::GetOrder { order_id: "ORD-1" })
        );
        assert_eq!(
            resolve("POST", "/api/orders/ORD-1/next"),
            Ok(Route::ClaimNextTask { order_id: "ORD-1" })
        );
        assert_eq!(
            resolve("POST", "/api/task/A/heartbeat"),
            Ok(Route::Heartbeat { uuid: "A" })
        );
        assert_eq!(
            resolve("PATCH", "/api/followups/3"),
            Ok(Route::PatchFollowup { id: "3" })
        );
        assert_eq!(resolve("POST", "/mcp"), Ok(Route::Mcp));
        for method in ["GET", "DELETE"] {
            assert_eq!(
                resolve(method, "/mcp"),
                Err(ApiError::MethodNotAllowed { allowed: POST })
            );
        }
        assert_eq!(
            resolve("HEAD", "/api/followups/3"),
            Ok(Route::GetFollowup { id: "3" })
        );
        assert_eq!(
            resolve("POST", "/api/github/webhook"),
            Ok(Route::GithubWebhook)
        );
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_told_apart() {
        assert_eq!(resolve("GET", "/"), Err(ApiError::RouteNotFound));
        assert_eq!(resolve("GET", "/api/tasks"), Err(ApiError::RouteNotFound));
        assert_eq!(
            resolve("GET", "/api/task/A/B"),
            Err(ApiError::RouteNotFound)
        );
        assert_eq!(
            resolve("DELETE", "/api/orders"),
            Err(ApiError::MethodNotAllowed { allowed: GET_POST })
        );
        assert_eq!(
            resolve("POST", "/api/followups/3"),
            Err(ApiError::MethodNotAllowed { allowed: GET_PATCH })
        );
        assert_eq!(
            resolve("DELETE", "/api/task/A"),
            Err(ApiError::MethodNotAllowed { allowed: GET })
        );
    }

    #[test]
    fn only_api_routes_need_auth() {
        assert!(!Route::Health.needs_auth());
        assert!(!Route::OpenApi.needs_auth());
        assert!(Route::CreateOrder.needs_auth());
        assert!(!Route::GithubWebhook.needs_auth());
        assert!(Route::Mcp.needs_auth());
    }
}
