-- Operation log, error events and the follow-up queue, exactly as the TypeScript orchestrator
-- created them. Indexes and additions live in 0007 and later.

-- 1) Low-level append-only ops log
CREATE TABLE IF NOT EXISTS operation_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts TEXT DEFAULT CURRENT_TIMESTAMP,
  source TEXT NOT NULL,            -- 'factory-init', 'factory-commit', 'agent', 'orchestrator', etc.
  order_id TEXT,                   -- nullable, not all ops have one
  task_uuid TEXT,                  -- nullable
  operation TEXT NOT NULL,         -- 'fetch_tasks', 'inject_placeholder', 'file_read', 'help_request', 'git_pr', ...
  level TEXT NOT NULL,             -- 'debug' | 'info' | 'warn' | 'error' | 'critical'
  details TEXT NOT NULL            -- JSON blob
);

-- 2) Error events (summarized, dedup friendly)
CREATE TABLE IF NOT EXISTS error_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts TEXT DEFAULT CURRENT_TIMESTAMP,
  order_id TEXT,
  task_uuid TEXT,
  factory TEXT,
  file_path TEXT,
  placeholder TEXT,
  error_code TEXT NOT NULL,        -- 'FILE_NOT_FOUND', 'PLACEHOLDER_NOT_FOUND', 'INJECT_FAILED', 'REMEDIATION_FAILED', ...
  message TEXT NOT NULL,
  context TEXT                     -- JSON blob
);

-- 3) Follow-ups queue (for HIL, later automation, or reporting)
CREATE TABLE IF NOT EXISTS followups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts TEXT DEFAULT CURRENT_TIMESTAMP,
  order_id TEXT NOT NULL,
  task_uuid TEXT,                  -- nullable if global/order-level
  type TEXT NOT NULL,              -- 'blocked' | 'improvement' | 'warning' | 'auto-fix-proposed' | 'auto-fix-applied'
  impact_level INTEGER NOT NULL,   -- 1 (highest) .. 5 (lowest)
  status TEXT NOT NULL,            -- 'open' | 'triaging' | 'fixed' | 'wontfix' | 'needs_human'
  note TEXT,                       -- short human-readable summary
  github_issue_id TEXT,            -- if we opened a GH issue
  data TEXT                        -- JSON blob (diffs, file contents, etc.)
);
