-- The practice's time zone (an IANA name such as America/Los_Angeles), in
-- which pages, the PDF and emails show times; NULL until the owner sets
-- one, when the zone of `state` is used, else UTC. `state` is the US
-- state (two letters) of the practice when known. Stored times stay UTC.
ALTER TABLE client_orgs
    ADD COLUMN time_zone text,
    ADD COLUMN state     text,
    ADD CONSTRAINT client_orgs_time_zone_check
        CHECK (time_zone IS NULL OR time_zone ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$'),
    ADD CONSTRAINT client_orgs_state_check CHECK (state IS NULL OR state ~ '^[A-Z]{2}$');
