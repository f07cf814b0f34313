-- Task leases: a claim that expires, with a fencing token that only ever grows per task.

ALTER TABLE tasks ADD COLUMN claimed_by TEXT;           -- the agent holding the lease
ALTER TABLE tasks ADD COLUMN lease_expires_at TEXT;     -- UTC, 'YYYY-MM-DD HH:MM:SS'
ALTER TABLE tasks ADD COLUMN lease_token INTEGER;       -- the last lease's fencing token, kept after it ends
-- Who blocked the task: 'remediation' when the orchestrator did, so that fixing its follow-up
-- may put the task back to pending; a task an agent blocked stays blocked.
ALTER TABLE tasks ADD COLUMN blocked_by TEXT;

UPDATE tasks SET blocked_by = 'remediation'
WHERE status = 'blocked' AND EXISTS (SELECT 1 FROM followups f
  WHERE f.task_uuid = tasks.uuid AND f.type = 'blocked' AND f.status = 'open');

-- The next pending task of an order, oldest first (rowid follows the index key), and the
-- per-status counts of the overview, both from the index alone.
CREATE INDEX IF NOT EXISTS idx_tasks_order_status ON tasks (order_id, status);
-- The sweep of expired leases.
CREATE INDEX IF NOT EXISTS idx_tasks_lease_expiry ON tasks (lease_expires_at)
  WHERE lease_expires_at IS NOT NULL;
-- The orders overview, filtered by factory, newest first.
CREATE INDEX IF NOT EXISTS idx_orders_factory ON orders (factory);
