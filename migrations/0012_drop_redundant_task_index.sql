-- idx_tasks_order_id (0007) is a prefix of idx_tasks_order_status (0010): every lookup by
-- order_id can use the latter, so the former only cost a write per task created and its bytes.
DROP INDEX IF EXISTS idx_tasks_order_id;
