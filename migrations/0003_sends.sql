-- The message log (issue 15, point 4): one row per attempt to hand a code to a provider, and
-- what its delivery receipt said later. Never the code, the mfaToken or the full destination.
-- Rows begun more than admin.messages_log_days ago are swept; a backup leaves them out.
CREATE TABLE sends (
    id                  text    PRIMARY KEY,
    send_id             text    NOT NULL,
    attempt             integer NOT NULL,
    at                  bigint  NOT NULL,
    updated_at          bigint  NOT NULL,
    username            text    NOT NULL,
    challenge           text    NOT NULL,
    channel             text    NOT NULL,
    provider            text    NOT NULL,
    status              text    NOT NULL
        CHECK (status IN ('queued', 'sent', 'failed', 'delivered', 'undelivered')),
    provider_message_id text,
    http_status         integer,
    latency_ms          bigint,
    error               text,
    destination         text    NOT NULL
);
CREATE INDEX sends_by_time ON sends (at, id);
CREATE INDEX sends_by_username ON sends (username, at);
CREATE INDEX sends_by_challenge ON sends (challenge, at);
CREATE INDEX sends_by_provider_message ON sends (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
COMMENT ON TABLE sends IS 'The message log: one row per attempt of a send (a code handed to a provider); swept after admin.messages_log_days.';
COMMENT ON COLUMN sends.id IS '{send_id}-{attempt}.';
COMMENT ON COLUMN sends.send_id IS 'The stable id of one challenge''s send on one channel (what {{ send_id }} renders, e.g. in an Idempotency-Key): the same across retries and providers.';
COMMENT ON COLUMN sends.attempt IS '1, 2, ... across the retries and providers of one send.';
COMMENT ON COLUMN sends.at IS 'When the attempt began (seconds since the epoch).';
COMMENT ON COLUMN sends.updated_at IS 'When the row last changed (an answer, a receipt).';
COMMENT ON COLUMN sends.challenge IS 'The session''s challenge id: the first 8 bytes, in hex, of the keyed hash of its mfaToken (never the token).';
COMMENT ON COLUMN sends.channel IS 'sms, email, voice, whatsapp, ...';
COMMENT ON COLUMN sends.provider IS 'The provider''s name in the configuration.';
COMMENT ON COLUMN sends.status IS 'queued < sent < failed | delivered | undelivered: never goes back; the first final status stays.';
COMMENT ON COLUMN sends.provider_message_id IS 'The provider''s id of the message, captured from its answer: how a delivery receipt finds the row.';
COMMENT ON COLUMN sends.http_status IS 'The HTTP status the provider answered.';
COMMENT ON COLUMN sends.latency_ms IS 'How long the provider took to answer (milliseconds).';
COMMENT ON COLUMN sends.error IS 'The class of error (timeout, unreachable, reset, 5xx, 429, refused, too-large, capture-missing, breaker-open, deadline), or a receipt''s reason.';
COMMENT ON COLUMN sends.destination IS 'The destination masked (+41•••••67, a•••@example.org).';
