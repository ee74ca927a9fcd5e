-- Whole-practice verifications against the evidence log
-- (src/evidence/integrity.rs): background jobs, one running per practice,
-- each result kept until the log grows.

CREATE TABLE log_verifications (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id uuid        NOT NULL,
    started_by    uuid,
    status        text        NOT NULL DEFAULT 'running',
    -- Leaves to verify (the log's size when the job started) and done.
    size          bigint      NOT NULL,
    done          bigint      NOT NULL DEFAULT 0,
    valid         boolean,
    -- The first problems found (src/evidence/integrity.rs MAX_PROBLEMS)
    -- and how many there were.
    problems      jsonb       NOT NULL DEFAULT '[]',
    problem_count bigint      NOT NULL DEFAULT 0,
    error         text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    CONSTRAINT log_verifications_pkey PRIMARY KEY (id),
    CONSTRAINT log_verifications_org_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    CONSTRAINT log_verifications_user_fkey FOREIGN KEY (started_by)
        REFERENCES client_users (id) ON DELETE SET NULL,
    CONSTRAINT log_verifications_status_check CHECK (status IN ('running', 'done', 'failed')),
    CONSTRAINT log_verifications_size_check CHECK (size >= 0 AND done >= 0)
);
CREATE UNIQUE INDEX log_verifications_one_running
    ON log_verifications (client_org_id) WHERE status = 'running';
CREATE INDEX log_verifications_org_idx ON log_verifications (client_org_id, started_at DESC);
