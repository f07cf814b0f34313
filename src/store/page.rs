//! Newest-first listings with filters and an id cursor (the operation log, follow-ups).

use super::Db;
use super::{internal, text};
use crate::domain::page::Paging;
use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::JsValue;

/// `SELECT ... WHERE` built one filter at a time, every value bound, never spliced.
pub struct Listing {
    sql: String,
    binds: Vec<JsValue>,
}

impl Listing {
    /// `select_from` is `SELECT <columns> FROM <table>`; the table must have an `id` column.
    pub fn new(select_from: &str) -> Self {
        Self {
            sql: format!("{select_from} WHERE 1 = 1"),
            binds: Vec::new(),
        }
    }

    /// `column <op> ?` with `value` bound, when there is a value.
    pub fn filter(&mut self, column: &str, op: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.binds.push(text(value));
            self.sql
                .push_str(&format!(" AND {column} {op} ?{}", self.binds.len()));
        }
        self
    }

    /// `column IN (...)` over constants of ours (never client text).
    pub fn one_of(&mut self, column: &str, values: &[&'static str]) -> &mut Self {
        let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        self.sql
            .push_str(&format!(" AND {column} IN ({})", quoted.join(", ")));
        self
    }

    /// The page `paging` asks for, newest first, and the cursor of the next page (`None` on
    /// the last one). `id_of` reads a row's id.
    pub async fn fetch<R: DeserializeOwned>(
        mut self,
        db: &Db,
        paging: Paging,
        id_of: impl Fn(&R) -> i64,
        context: &'static str,
    ) -> Result<(Vec<R>, Option<i64>), ApiError> {
        if let Some(before) = paging.before_id {
            self.binds.push(JsValue::from_f64(before as f64));
            self.sql
                .push_str(&format!(" AND id < ?{}", self.binds.len()));
        }
        // One extra row says whether another page exists.
        self.binds
            .push(JsValue::from_f64(f64::from(paging.limit + 1)));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ?{}", self.binds.len()));
        let mut rows = db
            .prepare(self.sql)
            .bind(&self.binds)
            .map_err(internal(context))?
            .all()
            .await
            .map_err(internal(context))?
            .results::<R>()
            .map_err(internal(context))?;
        let limit = paging.limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id_of)
        } else {
            None
        };
        Ok((rows, next))
    }
}

/// A stored JSON text column as JSON, or as the string it is when it is not JSON (rows
/// written outside this Worker).
pub fn json_or_text(stored: String) -> Value {
    serde_json::from_str(&stored).unwrap_or(Value::String(stored))
}
