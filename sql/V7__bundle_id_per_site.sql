-- An appliance's bundle ids are unique per site, not portal-wide: one
-- practice's appliance can no longer block (or learn of) another's ids.
-- Lookups by id are within the caller's practice.
ALTER TABLE evidence_bundles DROP CONSTRAINT evidence_bundles_bundle_id_key;
ALTER TABLE evidence_bundles
    ADD CONSTRAINT evidence_bundles_site_bundle_id_key UNIQUE (site_id, bundle_id);
CREATE INDEX evidence_bundles_org_bundle_id_idx ON evidence_bundles (client_org_id, bundle_id);
