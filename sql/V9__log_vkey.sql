-- Each log's verifier key (public), as the integrator computes it from the
-- seed, so monthly reports and emails can print it. It is a copy: a
-- checkpoint is checked against it before it is printed, and the key in a
-- practice's earlier reports and emails is the one to compare with.
ALTER TABLE evidence_logs ADD COLUMN vkey text;

-- A site's key history (its site-key leaves) without reading every leaf.
CREATE INDEX evidence_log_leaves_site_key_idx
    ON evidence_log_leaves (client_org_id, leaf_index) WHERE kind = 'site_key';
