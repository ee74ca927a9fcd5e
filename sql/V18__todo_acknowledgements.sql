-- A practice's note on an item of its to-do list (a failing or warning
-- check on one host of one site): "we know, the IT partner replaces the
-- disk on Friday". It does not change the check's status. A note counts
-- for the failure streak it was written in: the to-do list shows the
-- newest one written since the check last changed status.
CREATE TABLE todo_acknowledgements (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id   uuid        NOT NULL,
    site_id         uuid        NOT NULL,
    check_type      text        NOT NULL,
    host            text        NOT NULL,
    note            text        NOT NULL,
    -- NULL once the user is deleted; the audit log keeps who it was.
    acknowledged_by uuid,
    acknowledged_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT todo_acknowledgements_pkey PRIMARY KEY (id),
    CONSTRAINT todo_acknowledgements_site_fkey FOREIGN KEY (site_id, client_org_id)
        REFERENCES sites (id, client_org_id) ON DELETE CASCADE,
    CONSTRAINT todo_acknowledgements_user_fkey FOREIGN KEY (acknowledged_by)
        REFERENCES client_users (id) ON DELETE SET NULL,
    CONSTRAINT todo_acknowledgements_note_check
        CHECK (btrim(note) <> '' AND char_length(note) <= 1000)
);
CREATE INDEX todo_acknowledgements_item_idx
    ON todo_acknowledgements (site_id, check_type, host, acknowledged_at DESC);
