//! How a request line becomes a [`Route`]: the machinery behind the route table.
//!
//! The table itself is in `src/routes.rs`: one entry per route, stating its method, path, the
//! `Route` variant with its path parameters, its D1 session, who may call it and the handler
//! call. The [`route_table!`] macro below turns that table into the `Route` enum, [`resolve`],
//! `Route::consistency`, `Route::auth` and the dispatch `match`, so none of them can disagree
//! with another. The decisions that are not per route (a trailing slash, `HEAD` as `GET`,
//! 404 against 405) are the small functions here and are tested below through `resolve`.

pub use crate::routes::{resolve, Route};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Behind the bearer token (`auth::authorize`, before the handler runs).
    Bearer,
    /// Anyone: health and the OpenAPI document.
    Public,
    /// No bearer token: GitHub cannot send one. The handler checks the delivery's signature.
    Signed,
}

/// The path's segments, a trailing slash ignored (`/api/orders/` is `/api/orders`; `/` stays
/// one empty segment, which no route has).
pub fn segments(path: &str) -> Vec<&str> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    path.trim_start_matches('/').split('/').collect()
}

/// The method a route is looked up by. It must be the request's own method text, so that any
/// method a path does not list (`QUERY`, `PUT`, lower-case `get`, ...) is a 405 naming the ones
/// it does. `HEAD` is served as `GET` by the runtime's rules for bodies, so it is accepted
/// wherever `GET` is.
pub fn lookup_method(method: &str) -> &str {
    if method == "HEAD" {
        "GET"
    } else {
        method
    }
}

/// Generates the routing code from the table in `src/routes.rs`; see that module for the
/// table's format. What it makes:
///
/// - `enum Route<'a>`: one variant per entry, its path parameters as `&'a str` fields.
/// - `fn resolve(method, path) -> Result<Route, ApiError>`: the first path pattern that
///   matches decides; a method it does not list is a 405 whose `allowed` lists the ones it does,
///   in table order; no matching pattern is a 404.
/// - `Route::consistency` (the D1 session, `None` for a route without D1), `Route::auth` and
///   `Route::needs_auth`.
/// - `fn call_handler(route, req, env, config, db)`: runs the entry's handler call, with the
///   path parameters bound by name and `db` the request's session (`None` exactly when
///   `consistency` is).
///
/// The first line of the table names the handler calls' arguments, because a macro cannot
/// hand its own local names to expressions written outside it.
macro_rules! route_table {
    (
        with ($req:ident, $env:ident, $config:ident, $db:ident);
        $(
            $path:pat => {
                $(
                    $method:ident $variant:ident $({ $($param:ident),* })?
                        [$d1:ident, $auth:ident] => $call:expr
                ),+ $(,)?
            }
        )+
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Route<'a> {
            $($( $variant $({ $($param: &'a str),* })?, )+)+
        }

        /// Every entry as (method, path pattern as written), for the test that holds the
        /// table and `openapi.yaml` to the same routes.
        #[cfg(test)]
        pub const TABLE: &[(&str, &str)] = &[$($( (stringify!($method), stringify!($path)), )+)+];

        impl Route<'_> {
            /// The D1 session the route opens, if it touches D1 at all. Reads that may be a
            /// moment stale may be served by a replica; everything that writes, or reads to
            /// decide a write (claims, compare-and-set, idempotency lookups), starts at the
            /// primary. A client that sends a bookmark reads at least as fresh as that bookmark
            /// either way.
            pub fn consistency(&self) -> Option<$crate::store::Consistency> {
                match self {
                    $($(
                        Route::$variant { .. } => $crate::router::route_table!(@consistency $d1),
                    )+)+
                }
            }

            /// Who may call the route.
            pub fn auth(&self) -> $crate::router::Auth {
                match self {
                    $($( Route::$variant { .. } => $crate::router::Auth::$auth, )+)+
                }
            }

            /// Whether the route sits behind the bearer token.
            pub fn needs_auth(&self) -> bool {
                self.auth() == $crate::router::Auth::Bearer
            }
        }

        /// Resolves a request line: see [`crate::router::lookup_method`] for which method text
        /// is expected, [`crate::router::segments`] for the path.
        pub fn resolve<'a>(
            method: &str,
            path: &'a str,
        ) -> Result<Route<'a>, $crate::error::ApiError> {
            let method = $crate::router::lookup_method(method);
            match $crate::router::segments(path).as_slice() {
                $(
                    $path => {
                        $(
                            if method == stringify!($method) {
                                return Ok(Route::$variant $({ $($param),* })?);
                            }
                        )+
                        Err($crate::error::ApiError::MethodNotAllowed {
                            allowed: &[$(stringify!($method)),+],
                        })
                    }
                )+
                _ => Err($crate::error::ApiError::RouteNotFound),
            }
        }

        /// Runs the route's handler. `db` is the request's session, opened as
        /// `Route::consistency` says.
        pub(crate) async fn call_handler(
            route: Route<'_>,
            $req: &mut ::worker::Request,
            $env: &::worker::Env,
            $config: &$crate::config::Config,
            $db: Option<&$crate::store::Db>,
        ) -> $crate::error::ApiResult<::worker::Response> {
            match route {
                $($(
                    Route::$variant $({ $($param),* })? => {
                        $crate::router::route_table!(@call $d1, $db, $call)
                    }
                )+)+
            }
        }
    };

    (@consistency None) => { None };
    (@consistency $d1:ident) => { Some($crate::store::Consistency::$d1) };

    (@call None, $db:ident, $call:expr) => { $call };
    (@call $d1:ident, $db:ident, $call:expr) => {{
        let Some($db) = $db else {
            return Err($crate::error::ApiError::Internal("a D1 route without a session"));
        };
        $call
    }};
}

pub(crate) use route_table;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::routes::TABLE;
    use crate::store::Consistency;

    const GET: &[&str] = &["GET"];
    const POST: &[&str] = &["POST"];
    const GET_POST: &[&str] = &["GET", "POST"];
    const GET_PATCH: &[&str] = &["GET", "PATCH"];

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
        assert_eq!(resolve("GET", "/api/ops/archive"), Ok(Route::ArchivedLogs));
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
        assert_eq!(resolve("HEAD", "/health"), Ok(Route::Health));
        for method in ["QUERY", "PUT", "OPTIONS", "get", ""] {
            assert_eq!(
                resolve(method, "/health"),
                Err(ApiError::MethodNotAllowed { allowed: GET }),
                "{method}"
            );
        }
    }

    #[test]
    fn only_api_routes_need_auth() {
        assert!(!Route::Health.needs_auth());
        assert!(!Route::OpenApi.needs_auth());
        assert!(Route::CreateOrder.needs_auth());
        assert!(!Route::GithubWebhook.needs_auth());
        assert!(Route::Mcp.needs_auth());
    }

    #[test]
    fn writes_start_at_the_primary_and_plain_reads_may_use_a_replica() {
        assert_eq!(Route::Health.consistency(), None);
        assert_eq!(Route::OpenApi.consistency(), None);
        for read in [
            Route::ListOrders,
            Route::GetTask { uuid: "A" },
            Route::ListLogs,
            Route::GetFollowup { id: "1" },
        ] {
            assert_eq!(read.consistency(), Some(Consistency::Replica), "{read:?}");
        }
        for write in [
            Route::CreateOrder,
            Route::ClaimNextTask { order_id: "O" },
            Route::SetTaskStatus { uuid: "A" },
            Route::TaskHelp { uuid: "A" },
            Route::PatchFollowup { id: "1" },
            Route::GithubWebhook,
        ] {
            assert_eq!(write.consistency(), Some(Consistency::Primary), "{write:?}");
        }
    }

    /// `["api", "orders", order_id]` as `/api/orders/{}`.
    fn pattern_path(pattern: &str) -> String {
        let inner = pattern.trim().trim_start_matches('[').trim_end_matches(']');
        let parts: Vec<String> = inner
            .split(',')
            .map(|part| {
                let part = part.trim();
                match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                    Some(literal) => literal.to_owned(),
                    None => "{}".to_owned(),
                }
            })
            .collect();
        format!("/{}", parts.join("/"))
    }

    #[test]
    fn the_table_lists_each_route_once_and_as_openapi_yaml_does() {
        // Undocumented on purpose: a second spelling of /health for load balancers.
        const ALIASES: &[&str] = &["/healthz"];
        let document: serde_json::Value =
            serde_norway::from_str(include_str!("../openapi.yaml")).expect("openapi.yaml parses");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            let mut normalised = String::new();
            let mut in_param = false;
            for c in path.chars() {
                match c {
                    '{' => {
                        in_param = true;
                        normalised.push_str("{}");
                    }
                    '}' => in_param = false,
                    _ if !in_param => normalised.push(c),
                    _ => {}
                }
            }
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    documented.push((method.to_uppercase(), normalised.clone()));
                }
            }
        }
        let mut tabled: Vec<(String, String)> = TABLE
            .iter()
            .flat_map(|(method, patterns)| {
                patterns
                    .split('|')
                    .map(pattern_path)
                    .filter(|path| !ALIASES.contains(&path.as_str()))
                    .map(|path| (method.to_string(), path))
                    .collect::<Vec<_>>()
            })
            .collect();
        documented.sort();
        tabled.sort();
        let listed = tabled.len();
        tabled.dedup();
        assert_eq!(
            tabled.len(),
            listed,
            "a path lists a method twice: the second is unreachable"
        );
        assert_eq!(tabled, documented);
    }
}
