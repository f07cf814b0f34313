-- Additions of the Rust orchestrator on top of the TypeScript schema (0005, 0006).

-- Every query that filters by these columns would otherwise scan the whole table.
CREATE INDEX IF NOT EXISTS idx_tasks_order_id ON tasks (order_id);
CREATE INDEX IF NOT EXISTS idx_operation_logs_order_id ON operation_logs (order_id, id);
CREATE INDEX IF NOT EXISTS idx_operation_logs_task_uuid ON operation_logs (task_uuid, id);
CREATE INDEX IF NOT EXISTS idx_error_events_order_id ON error_events (order_id);
CREATE INDEX IF NOT EXISTS idx_followups_order_id ON followups (order_id);
CREATE INDEX IF NOT EXISTS idx_followups_task_uuid ON followups (task_uuid);

-- When a task last changed. SQLite refuses CURRENT_TIMESTAMP as the default of an added
-- column, so writers set it; NULL means "never changed since created_at".
ALTER TABLE tasks ADD COLUMN updated_at TEXT;

-- Answers already given to requests that carried an Idempotency-Key, so a retried request
-- gets the first answer instead of doing the work twice. `request_hash` catches a key reused
-- for a different request. The row is written in the same D1 batch as the work it records.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope TEXT NOT NULL,             -- the operation, e.g. 'create_order'
  key TEXT NOT NULL,               -- the client's Idempotency-Key
  request_hash TEXT NOT NULL,      -- hash of the validated request
  status INTEGER NOT NULL,         -- HTTP status of the first answer
  body TEXT NOT NULL,              -- JSON body of the first answer
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (scope, key)
);
