-- One critical-alert email per recipient and site a minute (issue 12,
-- finding 9): a bundle with 10,000 newly failing checks used to queue a
-- 520 KB email per owner and admin, and every bundle its own email.
--
-- A digest mail carries a key (critical_alert:<site>:<address>) and what it
-- says as JSON, so failures arriving while it still waits are folded into
-- it (the body is rendered again), and the next one is due no sooner than a
-- minute after the last.
ALTER TABLE email_outbox
    ADD COLUMN digest_key text,
    ADD COLUMN digest     jsonb,
    ADD CONSTRAINT email_outbox_digest_check CHECK ((digest_key IS NULL) = (digest IS NULL));

CREATE INDEX email_outbox_digest_idx
    ON email_outbox (digest_key, next_attempt_at DESC) WHERE digest_key IS NOT NULL;
