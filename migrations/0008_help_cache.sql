-- Answers of POST /api/task/:uuid/help, so a repeated question is served without asking the
-- documentation server (each query there costs an embedding and a vector search).
CREATE TABLE IF NOT EXISTS help_cache (
  cache_key TEXT PRIMARY KEY,      -- help::cache_key(task, question, error)
  task_uuid TEXT NOT NULL,
  answer TEXT NOT NULL,            -- JSON: {ai_guidance, kind, sources}
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_help_cache_task_uuid ON help_cache (task_uuid);
