-- The records of mfa-bridge on PostgreSQL: one table per kind of record, each readable by an
-- operator. Times are seconds since the Unix epoch (the daemon's clock), as in the records.
-- Personal values inside `record` (user data, captured values) are sealed under the server
-- secret, exactly as in the sled store: the JSON holds them as an opaque "sealed" string.

-- Every write of a profile or a session takes a new number from this sequence: a
-- compare-and-swap compares it, and a record deleted then created again never gets a number
-- an old read could still hold.
CREATE SEQUENCE record_versions;
COMMENT ON SEQUENCE record_versions IS
    'Versions of profiles and sessions: a write takes the next one; a compare-and-swap compares it.';

CREATE TABLE meta (
    key text PRIMARY KEY,
    value text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE meta IS 'Facts about this database: the fingerprint of the server secret, schema notes.';
COMMENT ON COLUMN meta.key IS 'secret_fingerprint: HMAC-SHA256 of a fixed label under the server secret (never the secret); an instance with another secret refuses to start.';

CREATE TABLE profiles (
    username text PRIMARY KEY,
    enrolled_at bigint NOT NULL,
    record jsonb NOT NULL,
    version bigint NOT NULL DEFAULT nextval('record_versions')
);
COMMENT ON TABLE profiles IS 'Enrolments: one per user with MFA active.';
COMMENT ON COLUMN profiles.enrolled_at IS 'When the user enrolled (seconds since the epoch).';
COMMENT ON COLUMN profiles.record IS 'The stored profile ("v": 1 or 2); its user data sealed under the server secret ("sealed"); codes and secrets as keyed hashes or sealed.';
COMMENT ON COLUMN profiles.version IS 'Changes at every write (from record_versions): what a compare-and-swap compares.';

CREATE TABLE sessions (
    key bytea PRIMARY KEY,
    username text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    attempts integer NOT NULL,
    record jsonb NOT NULL,
    version bigint NOT NULL DEFAULT nextval('record_versions')
);
CREATE INDEX sessions_by_username ON sessions (username);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
COMMENT ON TABLE sessions IS 'Pending MFA sessions (a login or an activation waiting for its code); removed when used or expired.';
COMMENT ON COLUMN sessions.key IS 'The keyed hash (HMAC-SHA256 under the server secret) of the mfaToken: the token itself is never stored.';
COMMENT ON COLUMN sessions.expires_at IS 'When the session ends (seconds since the epoch): the sweep of any instance deletes it then.';
COMMENT ON COLUMN sessions.attempts IS 'Codes checked on this session so far (a copy of record.attempts, for reading).';
COMMENT ON COLUMN sessions.record IS 'The stored session ("v": 1 or 2); the code as a keyed hash, the upstream grant and personal values sealed.';
COMMENT ON COLUMN sessions.version IS 'Changes at every write (from record_versions): what a compare-and-swap compares.';

CREATE TABLE counters (
    key bytea PRIMARY KEY,
    value bytea,
    expires_at bigint
);
CREATE INDEX counters_by_expiry ON counters (expires_at);
COMMENT ON TABLE counters IS 'Attempt tallies and send logs (per user, per session, per address): updated under a row lock, so every instance counts every attempt.';
COMMENT ON COLUMN counters.key IS 'What is counted (a kind and a keyed hash of a user or an address).';
COMMENT ON COLUMN counters.value IS 'The counter as stored (JSON); NULL only while a first update of the key is under way.';
COMMENT ON COLUMN counters.expires_at IS 'When the counter is over (seconds since the epoch), as read from its value: the sweep deletes it then. NULL: not known, the sweep reads the value.';

CREATE TABLE attempts_log (
    id bigserial PRIMARY KEY,
    at bigint NOT NULL,
    username text NOT NULL,
    method text NOT NULL,
    route text NOT NULL,
    status integer NOT NULL,
    outcome text NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX attempts_log_by_time ON attempts_log (at, id);
CREATE INDEX attempts_log_by_username ON attempts_log (username, at);
COMMENT ON TABLE attempts_log IS 'One line per request (the admin API''s attempts log): capped at storage.attempts_log_max_entries, the oldest going first; older than admin.attempts_log_days swept.';
COMMENT ON COLUMN attempts_log.at IS 'When the request came (seconds since the epoch).';
COMMENT ON COLUMN attempts_log.outcome IS 'ok, or the error id answered.';
COMMENT ON COLUMN attempts_log.record IS 'The whole entry as the admin API shows it (its reason, duration, admin actor).';

INSERT INTO meta (key, value) VALUES
    ('schema', 'mfa-bridge store: profiles, sessions, counters, attempts_log (migration 0001)');
