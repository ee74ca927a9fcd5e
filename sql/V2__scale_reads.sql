-- Reads that stay fast at millions of bundles (measured by scripts/bench-evidence).

-- The evidence list filtered by site and result, newest first, and the
-- count of what it selects, from the index alone (client_org_id is
-- included because every query also filters by the practice).
CREATE INDEX evidence_bundles_site_result_checked_idx
    ON evidence_bundles (site_id, result, checked_at DESC, id DESC)
    INCLUDE (client_org_id);

-- "Mark all read" as one watermark per user instead of a row per
-- notification: a notification is read by a user when it was created at or
-- before this instant, or has a row in client_notification_reads. Counting
-- unread ones then starts at the watermark instead of at the practice's
-- first notification. NULL = the user never marked all read.
ALTER TABLE client_users ADD COLUMN notifications_read_through timestamptz;
