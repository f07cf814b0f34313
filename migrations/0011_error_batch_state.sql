-- Remediation off the request path: every reported item keeps its batch, its position and
-- where its remediation is (recorded -> queued -> working -> done, with the final answer), so
-- a queue consumer can work it later and GET /api/factory/errors/:batch_id can tell the factory.
-- Rows written before (or by the TypeScript version) have no batch and stay as they are.

ALTER TABLE error_events ADD COLUMN batch_id TEXT;      -- the client's key, or one we made
ALTER TABLE error_events ADD COLUMN item_index INTEGER; -- position in the reported batch
ALTER TABLE error_events ADD COLUMN state TEXT;         -- 'recorded' | 'queued' | 'working' | 'done'
ALTER TABLE error_events ADD COLUMN answer TEXT;        -- JSON, the item's answer once done
ALTER TABLE error_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;  -- queued attempts
ALTER TABLE error_events ADD COLUMN updated_at TEXT;

-- A batch reported again (after an answer with deferred items) has its items twice; readers
-- take the newest row per position.
CREATE INDEX IF NOT EXISTS idx_error_events_batch
  ON error_events (batch_id, item_index) WHERE batch_id IS NOT NULL;
