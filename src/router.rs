//! The one route table, in the order of `openapi.yaml`: method and path to a [`Route`].

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    OpenApi,
    CreateOrder,
    ListOrderTasks {
        order_id: &'a str,
    },
    GetTask {
        uuid: &'a str,
    },
    SetTaskStatus {
        uuid: &'a str,
    },
    TaskHelp {
        uuid: &'a str,
    },
    AppendLog,
    ListLogs,
    ReportErrors,
    ListFollowups,
    /// The MCP endpoint (`mcp`): JSON-RPC over POST; GET and DELETE answer 405.
    Mcp,
}

impl Route<'_> {
    /// Whether the route sits behind the bearer token.
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Route::Health | Route::OpenApi)
    }
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];

/// Resolves a request line. `HEAD` is served as `GET` by the runtime's rules for bodies, so it
/// is accepted wherever `GET` is.
pub fn resolve<'a>(method: &str, path: &'a str) -> Result<Route<'a>, ApiError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (route, allowed) = match segments.as_slice() {
        ["health"] | ["healthz"] => (Route::Health, GET),
        ["openapi.json"] => (Route::OpenApi, GET),
        ["api", "orders"] => (Route::CreateOrder, POST),
        ["api", "tasks", order_id] => (Route::ListOrderTasks { order_id }, GET),
        ["api", "task", uuid] => (Route::GetTask { uuid }, GET),
        ["api", "task", uuid, "status"] => (Route::SetTaskStatus { uuid }, POST),
        ["api", "task", uuid, "help"] => (Route::TaskHelp { uuid }, POST),
        ["api", "ops", "log"] => (Route::AppendLog, POST),
        ["api", "ops", "logs"] => (Route::ListLogs, GET),
        ["api", "factory", "errors"] => (Route::ReportErrors, POST),
        ["api", "followups"] => (Route::ListFollowups, GET),
        ["mcp"] => (Route::Mcp, POST),
        _ => return Err(ApiError::RouteNotFound),
    };
    let method = if method == "HEAD" { "GET" } else { method };
    if allowed.contains(&method) {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed { allowed })
    }
}

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
        assert_eq!(resolve("POST", "/mcp"), Ok(Route::Mcp));
        for method in ["GET", "DELETE"] {
            assert_eq!(
                resolve(method, "/mcp"),
                Err(ApiError::MethodNotAllowed { allowed: POST })
            );
        }
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
            resolve("GET", "/api/orders"),
            Err(ApiError::MethodNotAllowed { allowed: POST })
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
        assert!(Route::Mcp.needs_auth());
    }
}
