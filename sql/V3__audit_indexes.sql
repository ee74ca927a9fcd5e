-- Audit log pages filtered by actor or action, in index order.
--
-- The list (src/db/audit.rs) orders by (created_at DESC, id DESC) and pages
-- with the keyset (created_at, id) < (cursor): an index that ends in both
-- columns hands a filtered page over in order, so a page reads about as many
-- rows as it shows however long the practice's log is.

-- Actor given as an email (entries of removed users and of failed sign-ins
-- carry only the address): the filter is lower(actor_email) = $n.
CREATE INDEX client_audit_log_org_actor_email_idx
    ON client_audit_log (client_org_id, lower(actor_email), created_at DESC, id DESC);

-- The V1 actor and action indexes stopped at created_at, so entries sharing
-- an instant had to be sorted again; these end in id DESC too.
DROP INDEX client_audit_log_org_actor_idx;
CREATE INDEX client_audit_log_org_actor_idx
    ON client_audit_log (client_org_id, actor_user_id, created_at DESC, id DESC);

DROP INDEX client_audit_log_org_action_idx;
CREATE INDEX client_audit_log_org_action_idx
    ON client_audit_log (client_org_id, action, created_at DESC, id DESC);
