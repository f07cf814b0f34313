//! The only code that speaks SQL to D1. SQL sits in constants beside the function that runs it;
//! anything that must be all-or-nothing is one `batch`.

pub mod archive;
pub mod error_batches;
pub mod error_events;
pub mod followups;
pub mod github_claims;
pub mod help_cache;
pub mod housekeeping;
pub mod idempotency;
pub mod leases;
pub mod oplog;
pub mod orders;
pub mod overview;
pub mod page;
pub mod remediation;
pub mod tasks;

use crate::domain::bookmark::Bookmark;
use crate::error::ApiError;
use crate::json_text::JsonText;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_error, D1Database, D1DatabaseSession, D1PreparedStatement, D1SessionConstraint, Env,
};

pub const DB_BINDING: &str = "DB";

/// What every store function runs its SQL on: the bare binding, or a D1 session (Sessions
/// API) opened once per request when the database has read replication on.
///
/// A session is what lets reads be served by a replica while a client still reads its own
/// writes (bookmarks). Without replication every query goes to the primary, which is never
/// behind anything: a session then buys no freshness and still costs a bookmark per query
/// (under `wrangler dev` that bookmark costs about a quarter of a read's throughput). So which
/// one a request gets follows the operator's setting, [`ReadReplication`].
pub enum Db {
    /// The binding itself: every query at the primary.
    Primary(D1Database),
    /// A session, anchored per [`Consistency`] and the client's bookmark.
    Session(D1DatabaseSession),
}

impl Db {
    pub fn prepare<T: Into<String>>(&self, query: T) -> D1PreparedStatement {
        match self {
            Db::Primary(db) => db.prepare(query),
            Db::Session(session) => session.prepare(query),
        }
    }

    pub async fn batch(
        &self,
        statements: Vec<D1PreparedStatement>,
    ) -> worker::Result<Vec<worker::D1Result>> {
        match self {
            Db::Primary(db) => db.batch(statements).await,
            Db::Session(session) => session.batch(statements).await,
        }
    }
}

/// Whether the database has read replication on (`D1_READ_REPLICATION`, the same word as
/// the database's own `read_replication.mode`): `auto` opens a session per request, anything
/// else uses the binding as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReplication {
    Auto,
    Disabled,
}

impl ReadReplication {
    pub fn from_var(value: Option<&str>) -> Self {
        match value {
            Some(mode) if mode.eq_ignore_ascii_case("auto") => ReadReplication::Auto,
            _ => ReadReplication::Disabled,
        }
    }
}

/// Where a request's session starts. Which route needs which is decided in one place, a
/// column of the route table (`routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Writes and compare-and-set claims: the first query goes to the primary, so the session
    /// sees every committed write.
    Primary,
    /// Reads that may be slightly stale: the first query may go to any replica.
    Replica,
}

/// Opens the request's database. With replication on, a session: a bookmark (from an earlier
/// answer) anchors a reading session at least that fresh; a writing session starts at the
/// primary, which is never behind any bookmark, so the bookmark adds nothing there. With
/// replication off, the binding: the primary again, so the bookmark (already validated) is
/// satisfied as well.
pub fn open(
    env: &Env,
    replication: ReadReplication,
    consistency: Consistency,
    bookmark: Option<&Bookmark>,
) -> Result<Db, ApiError> {
    let db = binding(env)?;
    if replication == ReadReplication::Disabled {
        return Ok(Db::Primary(db));
    }
    let session = match (consistency, bookmark) {
        (Consistency::Primary, _) => db.with_session_constraint(D1SessionConstraint::FirstPrimary),
        (Consistency::Replica, Some(bookmark)) => db.with_session(Some(bookmark.as_str())),
        (Consistency::Replica, None) => {
            db.with_session_constraint(D1SessionConstraint::FirstUnconstrained)
        }
    };
    session
        .map(Db::Session)
        .map_err(internal("opening a D1 session"))
}

/// The database for work outside a request (the cron and queue handlers): the binding, at
/// the primary.
pub fn database(env: &Env) -> Result<Db, ApiError> {
    binding(env).map(Db::Primary)
}

fn binding(env: &Env) -> Result<D1Database, ApiError> {
    env.d1(DB_BINDING)
        .map_err(internal("D1 binding 'DB' is missing"))
}

/// The latest bookmark the session saw, for the answer's `x-d1-bookmark` (none without a
/// session, before the first query, or where the runtime gives none).
pub fn bookmark(db: &Db) -> Option<String> {
    match db {
        Db::Primary(_) => None,
        Db::Session(session) => session
            .get_bookmark()
            .ok()
            .flatten()
            .filter(|b| !b.is_empty()),
    }
}

/// Logs a D1 failure with its cause and turns it into an opaque 500.
pub fn internal(context: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |err| {
        console_error!("{context}: {err}");
        ApiError::Internal(context)
    }
}

/// SQL showing a stored JSON text column as JSON, or as the string it is when it is not JSON
/// (rows written outside this Worker). A macro, so that constant SQL can use it in `concat!`.
macro_rules! json_or_text {
    ($column:literal) => {
        concat!(
            "CASE WHEN json_valid(",
            $column,
            ") THEN json(",
            $column,
            ") ELSE ",
            $column,
            " END"
        )
    };
}
pub(crate) use json_or_text;

/// The `body` column of the first row `sql` returns: the answer's JSON, built by SQLite and
/// kept as the JavaScript string D1 returned (`JsonText`). `None` when there is no row.
pub(crate) async fn json_body(
    db: &Db,
    sql: &str,
    params: &[JsValue],
    context: &'static str,
) -> Result<Option<JsonText>, ApiError> {
    let fail = |err: worker::Error| internal(context)(err);
    let statement = db.prepare(sql).bind(params).map_err(fail)?;
    // The binding's own `first`, not worker's: that one decodes the value into Rust.
    let pending = statement
        .inner()
        .first(Some("body"))
        .map_err(|e| fail(e.into()))?;
    let row = JsFuture::from(pending).await.map_err(|e| fail(e.into()))?;
    if row.is_null() || row.is_undefined() {
        return Ok(None);
    }
    JsonText::from_js(row)
        .map(Some)
        .ok_or_else(|| fail(worker::Error::RustError("body is not text".into())))
}

/// Prepares `sql` and binds as many of `params` as its highest `?N` uses, so the statements of
/// one batch can share one parameter list (SQLite refuses a binding past the highest `?N`).
pub(crate) fn prepare_bound(
    db: &Db,
    sql: &str,
    params: &[JsValue],
) -> worker::Result<D1PreparedStatement> {
    db.prepare(sql)
        .bind(&params[..highest_parameter(sql).min(params.len())])
}

/// Runs `sqls` as one batch (all or nothing), each bound to the `params` it uses, and returns
/// its `N` results, one per statement.
pub(crate) async fn batch_shared<const N: usize>(
    db: &Db,
    sqls: [&str; N],
    params: &[JsValue],
    context: &'static str,
) -> Result<[worker::D1Result; N], ApiError> {
    let statements = sqls
        .iter()
        .map(|sql| prepare_bound(db, sql, params))
        .collect::<worker::Result<Vec<_>>>()
        .map_err(internal(context))?;
    results_of(db.batch(statements).await.map_err(internal(context))?)
}

/// A batch's results as one per statement (D1 answers exactly that).
pub(crate) fn results_of<const N: usize>(
    results: Vec<worker::D1Result>,
) -> Result<[worker::D1Result; N], ApiError> {
    results
        .try_into()
        .map_err(|_| ApiError::Internal("D1 batch returned an unexpected result count"))
}

/// The highest `?N` in `sql`.
pub(crate) fn highest_parameter(sql: &str) -> usize {
    sql.split('?')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().ok()
        })
        .max()
        .unwrap_or(0)
}

pub(crate) fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

pub(crate) fn opt_int(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, int)
}

/// The rows a batch statement returned, decoded.
pub(crate) fn rows<T: serde::de::DeserializeOwned>(
    result: &worker::D1Result,
    context: &'static str,
) -> Result<Vec<T>, ApiError> {
    result.results::<T>().map_err(internal(context))
}

/// How many rows a batch statement changed.
pub(crate) fn changes(result: &worker::D1Result) -> usize {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|meta| meta.changes)
        .unwrap_or(0)
}

pub(crate) fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

pub(crate) fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// What a failed write ran into, read from D1's error text (D1 exposes no error codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteConflict {
    /// A `UNIQUE`/`PRIMARY KEY` violation on `table`.
    Unique {
        table: String,
    },
    Other,
}

pub fn classify_write_error(message: &str) -> WriteConflict {
    const MARK: &str = "UNIQUE constraint failed: ";
    match message.find(MARK) {
        Some(at) => {
            let rest = &message[at + MARK.len()..];
            let table = rest.split('.').next().unwrap_or_default().trim().to_owned();
            WriteConflict::Unique { table }
        }
        None => WriteConflict::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auto_turns_read_replication_on() {
        for on in ["auto", "AUTO", "Auto"] {
            assert_eq!(ReadReplication::from_var(Some(on)), ReadReplication::Auto);
        }
        for off in [None, Some("disabled"), Some("on"), Some("true"), Some("")] {
            assert_eq!(ReadReplication::from_var(off), ReadReplication::Disabled);
        }
    }

    #[test]
    fn finds_the_highest_parameter() {
        assert_eq!(highest_parameter("SELECT 1"), 0);
        assert_eq!(highest_parameter("WHERE a = ?1 AND b = ?12 OR c = ?3"), 12);
        assert_eq!(highest_parameter("WHERE a = ?2 AND ?1 IS NULL"), 2);
    }

    #[test]
    fn classifies_unique_violations_by_table() {
        assert_eq!(
            classify_write_error(
                "D1_ERROR: UNIQUE constraint failed: orders.id: SQLITE_CONSTRAINT"
            ),
            WriteConflict::Unique {
                table: "orders".into()
            }
        );
        assert_eq!(
            classify_write_error(
                "Error: UNIQUE constraint failed: idempotency_keys.scope, idempotency_keys.key"
            ),
            WriteConflict::Unique {
                table: "idempotency_keys".into()
            }
        );
        assert_eq!(
            classify_write_error("D1_ERROR: no such table: x"),
            WriteConflict::Other
        );
    }
}
