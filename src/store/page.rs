//! Newest-first listings with filters and an id cursor (the operation log, follow-ups).

use super::Db;
use super::{json_body, text};
use crate::domain::page::Paging;
use crate::error::ApiError;
use crate::json_text::JsonText;
use wasm_bindgen::JsValue;

/// `SELECT id, <row> AS row FROM <table> WHERE ...` built one filter at a time, every value
/// bound, never spliced.
pub struct Listing {
    sql: String,
    binds: Vec<JsValue>,
}

impl Listing {
    /// `table` must have an integer `id`; `row` is the SQL expression of one row's JSON object
    /// as the answer shows it (our constant, never client text).
    pub fn new(table: &str, row: &str) -> Self {
        Self {
            sql: format!("SELECT id, {row} AS row FROM {table} WHERE 1 = 1"),
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

    /// The page `paging` asks for as the answer's JSON text, `{"<key>": [row, ...],
    /// "next_cursor": "<id>" | null}`, newest first; the cursor is the last id shown, null on
    /// the last page. One statement: SQLite builds the JSON, no row is decoded in the Worker.
    pub async fn page_json(
        mut self,
        db: &Db,
        paging: Paging,
        key: &'static str,
        context: &'static str,
    ) -> Result<JsonText, ApiError> {
        if let Some(before) = paging.before_id {
            self.binds.push(JsValue::from_f64(before as f64));
            self.sql
                .push_str(&format!(" AND id < ?{}", self.binds.len()));
        }
        // One row past the page says whether another page exists.
        self.binds
            .push(JsValue::from_f64(f64::from(paging.limit + 1)));
        let n = self.binds.len();
        // A value read out of a subquery loses its JSON subtype, hence `json(...)` around the
        // array; the cursor is the page's last id, the second smallest of its `limit + 1` rows.
        let sql = format!(
            "WITH page AS ({sql} ORDER BY id DESC LIMIT ?{n}) \
             SELECT json_object('{key}', json((SELECT json_group_array(json(row) ORDER BY id DESC) \
               FROM (SELECT id, row FROM page ORDER BY id DESC LIMIT ?{n} - 1))), \
             'next_cursor', CASE WHEN (SELECT count(*) FROM page) = ?{n} \
               THEN (SELECT CAST(id AS TEXT) FROM page ORDER BY id LIMIT 1 OFFSET 1) END) AS body",
            sql = self.sql,
        );
        json_body(db, &sql, &self.binds, context)
            .await?
            .ok_or(ApiError::Internal("a listing returned no row"))
    }
}
