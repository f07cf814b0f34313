//! Request and response values of the API, validated at the edge; pure and unit-tested natively.

pub mod error_report;
pub mod followup;
pub mod followup_query;
pub mod github_event;
pub mod hash;
pub mod idempotency;
pub mod ids;
pub mod lease;
pub mod oplog;
pub mod order;
pub mod order_query;
pub mod page;
pub mod path;
pub mod placeholder;
pub mod status;
pub mod text;
pub mod validate;
pub mod vocabulary;
