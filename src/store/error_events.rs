//! Rows of `error_events`: what factories reported, kept as reported.

use super::{opt_text, text};
use crate::domain::error_report::ErrorItem;
use worker::{D1Database, D1PreparedStatement};

const INSERT: &str = "INSERT INTO error_events \
     (order_id, task_uuid, factory, file_path, placeholder, error_code, message, context) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

pub fn insert_statement(db: &D1Database, item: &ErrorItem) -> worker::Result<D1PreparedStatement> {
    db.prepare(INSERT).bind(&[
        text(&item.order_id),
        opt_text(item.task_uuid.as_deref()),
        text(&item.factory),
        text(&item.file_path),
        opt_text(item.placeholder.as_deref()),
        text(item.error_code.as_str()),
        text(&item.message),
        text(&item.context),
    ])
}
