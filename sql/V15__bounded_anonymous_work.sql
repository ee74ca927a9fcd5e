-- Bounded records of anonymous callers, and the audit log's retention
-- (issue 12, findings 5 and 8).

-- Sign-in attempts that name no practice's account (an unknown address, a
-- link that is not one of ours) are counted here, per hour and client
-- address, instead of each leaving a row in the append-only audit log that
-- anyone on the internet could grow without bound. Pruned after 90 days.
-- Attempts on a practice's real account still go to its audit log.
CREATE TABLE anonymous_sign_in_attempts (
    window_start timestamptz NOT NULL,
    what         text        NOT NULL,  -- e.g. password_unknown_address
    ip_key       text        NOT NULL,  -- IPv4 address or IPv6 /64, as rate limits key it
    attempts     integer     NOT NULL DEFAULT 1,
    last_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT anonymous_sign_in_attempts_pkey PRIMARY KEY (window_start, what, ip_key)
);

-- Magic-link requests, queued: the request itself does the same database
-- work whatever the address (two rate-limit counters and this row); a
-- worker then looks the address up, makes the link and the mail, and
-- deletes the row. Nothing about the address shows in the answer's timing.
CREATE TABLE magic_link_requests (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    email        text        NOT NULL,
    ip           inet,
    user_agent   text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT magic_link_requests_pkey PRIMARY KEY (id)
);

-- The audit log stays append-only, except that rows older than the six
-- years HIPAA asks records to be kept (45 CFR 164.316(b)(2)) may be
-- deleted, and only through prune_audit_log below (the runtime role has no
-- DELETE on the table). UPDATE and TRUNCATE stay refused.
CREATE OR REPLACE FUNCTION client_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.created_at < now() - interval '6 years' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'client_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Deletes at most max_rows audit rows older than keep_years (at least 6);
-- the number deleted. Runs with its owner's rights, so the server can apply
-- the configured retention without being able to delete anything else.
CREATE FUNCTION prune_audit_log(keep_years integer, max_rows integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    deleted bigint;
BEGIN
    IF keep_years IS NULL OR keep_years < 6 THEN
        RAISE EXCEPTION 'the audit log is kept at least 6 years (asked to keep %)', keep_years
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM client_audit_log
     WHERE id IN (SELECT id FROM client_audit_log
                   WHERE created_at < now() - make_interval(years => keep_years)
                   ORDER BY id LIMIT max_rows);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;
REVOKE ALL ON FUNCTION prune_audit_log(integer, integer) FROM PUBLIC;
