//! The only code that speaks SQL to D1. SQL sits in constants beside the function that runs it;
//! anything that must be all-or-nothing is one `batch`.

pub mod error_events;
pub mod followups;
pub mod help_cache;
pub mod idempotency;
pub mod oplog;
pub mod orders;
pub mod page;
pub mod tasks;

use crate::error::ApiError;
use wasm_bindgen::JsValue;
use worker::{console_error, D1Database, Env};

pub const DB_BINDING: &str = "DB";

pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    env.d1(DB_BINDING)
        .map_err(internal("D1 binding 'DB' is missing"))
}

/// Logs a D1 failure with its cause and turns it into an opaque 500.
pub fn internal(context: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |err| {
        console_error!("{context}: {err}");
        ApiError::Internal(context)
    }
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
