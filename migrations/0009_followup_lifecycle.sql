-- Follow-ups that close themselves (GitHub webhooks, scheduled reconciliation), at most one
-- active follow-up per (task, type), and at most one GitHub issue and one pull request per task.

-- The GitHub object a follow-up tracks, so that an event about it can be matched. Older rows
-- keep only the URL in github_issue_id; the backfill below derives the rest where it parses.
ALTER TABLE followups ADD COLUMN github_kind TEXT;      -- 'issue' | 'pull'
ALTER TABLE followups ADD COLUMN github_repo TEXT;      -- 'owner/name'
ALTER TABLE followups ADD COLUMN github_number INTEGER;
ALTER TABLE followups ADD COLUMN updated_at TEXT;       -- last status change
ALTER TABLE followups ADD COLUMN checked_at TEXT;       -- last reconciliation against GitHub

UPDATE followups
SET github_kind = CASE WHEN instr(github_issue_id, '/pull/') > 0 THEN 'pull' ELSE 'issue' END,
    github_repo = substr(github_issue_id, 20,
      instr(github_issue_id, CASE WHEN instr(github_issue_id, '/pull/') > 0 THEN '/pull/' ELSE '/issues/' END) - 20),
    github_number = CAST(substr(github_issue_id,
      instr(github_issue_id, CASE WHEN instr(github_issue_id, '/pull/') > 0 THEN '/pull/' ELSE '/issues/' END)
      + CASE WHEN instr(github_issue_id, '/pull/') > 0 THEN 6 ELSE 8 END) AS INTEGER)
WHERE github_issue_id LIKE 'https://github.com/%/%/issues/%'
   OR github_issue_id LIKE 'https://github.com/%/%/pull/%';

-- Concurrent reports could each insert a follow-up for the same task. Keep the oldest active
-- one of each (task, type) and close the others, so the unique index below can be built.
UPDATE followups
SET status = 'wontfix',
    note = 'duplicate of follow-up ' || (SELECT MIN(k.id) FROM followups k
      WHERE k.task_uuid = followups.task_uuid AND k.type = followups.type
        AND k.status IN ('open', 'triaging', 'needs_human')) || '; ' || COALESCE(note, ''),
    updated_at = CURRENT_TIMESTAMP
WHERE task_uuid IS NOT NULL
  AND status IN ('open', 'triaging', 'needs_human')
  AND id NOT IN (SELECT MIN(id) FROM followups
                 WHERE task_uuid IS NOT NULL AND status IN ('open', 'triaging', 'needs_human')
                 GROUP BY task_uuid, type);

-- At most one active follow-up per task and type: writers insert with ON CONFLICT DO NOTHING
-- and read the survivor back, so concurrent reports converge on one row.
CREATE UNIQUE INDEX IF NOT EXISTS uq_followups_active_task_type
  ON followups (task_uuid, type)
  WHERE task_uuid IS NOT NULL AND status IN ('open', 'triaging', 'needs_human');
CREATE INDEX IF NOT EXISTS idx_followups_github
  ON followups (github_repo, github_number) WHERE github_number IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_followups_reconcile
  ON followups (checked_at) WHERE github_number IS NOT NULL
  AND status IN ('open', 'triaging', 'needs_human');

-- The right to create a task's GitHub issue or pull request, taken in D1 before GitHub is
-- called: one winner per (task, kind) creates it, concurrent losers reuse its result. A claim
-- whose creator died (no url after a few minutes) may be taken over; closing the follow-up that
-- tracks the object releases the claim, so a later report may open a new one.
CREATE TABLE IF NOT EXISTS github_claims (
  task_uuid TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('issue', 'pull')),
  token TEXT NOT NULL,             -- random, per claiming request
  claimed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  number INTEGER,                  -- set once created
  url TEXT,
  PRIMARY KEY (task_uuid, kind)
);

-- GitHub webhook deliveries already applied (X-GitHub-Delivery), so a redelivery changes nothing.
CREATE TABLE IF NOT EXISTS github_deliveries (
  delivery_id TEXT PRIMARY KEY,
  event TEXT NOT NULL,
  received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
