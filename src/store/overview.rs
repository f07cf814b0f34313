//! The orders overview: per-order task counts by status, active follow-ups and live leases,
//! computed by D1 from its indexes (one row per order reaches the Worker, never the tasks).

use super::tasks::LEASE_LIVE;
use super::Db;
use super::{batch_shared, int, internal, rows, text};
use crate::domain::followup::FollowupStatus;
use crate::domain::page::Paging;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub pending: i64,
    pub in_progress: i64,
    pub complete: i64,
    pub blocked: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderSummary {
    pub order_id: String,
    pub factory: String,
    pub created_at: Option<String>,
    pub tasks_total: i64,
    pub counts: Counts,
    /// Follow-ups still waiting for someone (open, triaging, needs_human).
    pub open_followups: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActiveLease {
    pub uuid: String,
    pub agent: String,
    pub expires_at: String,
}

#[derive(Deserialize)]
struct SummaryRow {
    seq: i64,
    order_id: String,
    factory: String,
    created_at: Option<String>,
    tasks_total: i64,
    pending: i64,
    in_progress: i64,
    complete: i64,
    blocked: i64,
    open_followups: i64,
}

impl From<SummaryRow> for OrderSummary {
    fn from(r: SummaryRow) -> Self {
        OrderSummary {
            order_id: r.order_id,
            factory: r.factory,
            created_at: r.created_at,
            tasks_total: r.tasks_total,
            counts: Counts {
                pending: r.pending,
                in_progress: r.in_progress,
                complete: r.complete,
                blocked: r.blocked,
            },
            open_followups: r.open_followups,
        }
    }
}

/// Each count is a range of `idx_tasks_order_status` (or `idx_followups_order_id`).
fn summary_select() -> String {
    let count = |status: &str| {
        format!("(SELECT COUNT(*) FROM tasks t WHERE t.order_id = o.id AND t.status = '{status}')")
    };
    format!(
        "SELECT o.rowid AS seq, o.id AS order_id, o.factory, o.created_at, \
           (SELECT COUNT(*) FROM tasks t WHERE t.order_id = o.id) AS tasks_total, \
           {} AS pending, {} AS in_progress, {} AS complete, {} AS blocked, \
           (SELECT COUNT(*) FROM followups f WHERE f.order_id = o.id \
              AND f.status IN {}) AS open_followups \
         FROM orders o",
        count("pending"),
        count("in_progress"),
        count("complete"),
        count("blocked"),
        FollowupStatus::ACTIVE_SQL,
    )
}

/// A page of orders, newest first (by insertion), optionally of one factory. The cursor is
/// the last order's rowid.
pub async fn list(
    db: &Db,
    factory: Option<&str>,
    paging: Paging,
) -> Result<(Vec<OrderSummary>, Option<i64>), ApiError> {
    let mut sql = summary_select();
    let mut params = Vec::new();
    let mut conditions = Vec::new();
    if let Some(factory) = factory {
        params.push(text(factory));
        conditions.push(format!("o.factory = ?{}", params.len()));
    }
    if let Some(before) = paging.before_id {
        params.push(int(before));
        conditions.push(format!("o.rowid < ?{}", params.len()));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    params.push(int(i64::from(paging.limit) + 1));
    sql.push_str(&format!(" ORDER BY o.rowid DESC LIMIT ?{}", params.len()));
    let result = db
        .prepare(sql)
        .bind(&params)
        .map_err(internal("binding orders overview"))?
        .all()
        .await
        .map_err(internal("reading orders overview"))?;
    let mut page = rows::<SummaryRow>(&result, "decoding orders overview")?;
    let next = if page.len() > paging.limit as usize {
        page.truncate(paging.limit as usize);
        page.last().map(|r| r.seq)
    } else {
        None
    };
    Ok((page.into_iter().map(OrderSummary::from).collect(), next))
}

/// One order's summary and its live leases, from one batch; `None` for an unknown order.
pub async fn one(
    db: &Db,
    order_id: &str,
) -> Result<Option<(OrderSummary, Vec<ActiveLease>)>, ApiError> {
    let summary = format!("{} WHERE o.id = ?1", summary_select());
    let leases = format!(
        "SELECT uuid, claimed_by AS agent, lease_expires_at AS expires_at FROM tasks \
         WHERE order_id = ?1 AND status = 'in_progress' AND {LEASE_LIVE} \
         ORDER BY lease_expires_at"
    );
    let [summary, leases] = batch_shared(
        db,
        [summary.as_str(), leases.as_str()],
        &[text(order_id)],
        "reading order summary",
    )
    .await?;
    let Some(summary) = rows::<SummaryRow>(&summary, "decoding order summary")?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let leases = rows::<ActiveLease>(&leases, "decoding active leases")?;
    Ok(Some((summary.into(), leases)))
}
