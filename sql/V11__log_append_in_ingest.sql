-- Leaves are appended in the transaction that stores what they log, as
-- its last statement (src/evidence/log.rs, `append_to`), and a bundle's
-- place in the log is kept on its leaf (`bundle_row`) instead of on the
-- bundle. The log's row lock is then held only through one small
-- statement and the commit, and logging a bundle writes one leaf row and
-- nothing else: no second version of the bundle row (with an entry in
-- each of its indexes), no queue row (V10), no second commit.

-- Where each bundle is in its practice's log, on its leaf.
ALTER TABLE evidence_log_leaves ADD COLUMN bundle_row uuid;
ALTER TABLE evidence_log_leaves
    ADD CONSTRAINT evidence_log_leaves_bundle_row_key UNIQUE (bundle_row);
-- Leaves are append-only; this one-time move of the mapping is the
-- migration's, with the guard off for its duration.
ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
UPDATE evidence_log_leaves l SET bundle_row = b.id
  FROM evidence_bundles b
 WHERE b.client_org_id = l.client_org_id AND b.log_index = l.leaf_index;
ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;

-- Leaves still queued (an ingest that committed but stopped before its
-- sequencing step) get the next indices here, in queue order.
WITH numbered AS (
    SELECT p.id, p.client_org_id, p.kind, p.data, p.bundle_row,
           l.size + row_number() OVER (PARTITION BY p.client_org_id ORDER BY p.id) - 1 AS idx
      FROM evidence_log_pending p JOIN evidence_logs l USING (client_org_id)
), leaves AS (
    INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data, bundle_row)
    SELECT client_org_id, idx, kind, data, bundle_row FROM numbered
), grown AS (
    UPDATE evidence_logs l SET size = l.size + c.n
      FROM (SELECT client_org_id, count(*) AS n FROM numbered GROUP BY client_org_id) c
     WHERE l.client_org_id = c.client_org_id
)
SELECT count(*) FROM numbered;

DROP TABLE evidence_log_pending;
ALTER TABLE evidence_bundles DROP COLUMN log_index;
