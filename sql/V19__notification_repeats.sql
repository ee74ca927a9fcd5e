-- A check that flaps (warns, recovers, warns again) raises one notification
-- per kind, check, host and UTC day: later changes of the same kind that
-- day count in `occurrences` instead of adding rows. `check_type` and
-- `host` name the one check a notification is about (NULL for summaries
-- and practice-wide ones), so criticals that are still failing can be
-- pinned first.
ALTER TABLE client_notifications
    ADD COLUMN check_type  text,
    ADD COLUMN host        text,
    ADD COLUMN occurrences integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT client_notifications_occurrences_check CHECK (occurrences >= 1),
    ADD CONSTRAINT client_notifications_check_host_check
        CHECK ((check_type IS NULL) = (host IS NULL));
CREATE INDEX client_notifications_open_critical_idx
    ON client_notifications (client_org_id, site_id, check_type, host, created_at DESC)
    WHERE severity = 'critical' AND check_type IS NOT NULL;
