-- The events queue (issue 15, point 6): one row per event and webhook endpoint, written on the
-- request path, delivered by the events worker of whichever instance leases it first. `seq`
-- orders the events; only the first pending row of an (endpoint, username) is handed out, so a
-- user's events reach an endpoint in order. `lease_until` (s) keeps a row with one deliverer at
-- a time; `FOR UPDATE SKIP LOCKED` keeps two claims from waiting on each other. `payload` is the
-- body exactly as signed and sent.
CREATE TABLE events (
    seq         bigserial PRIMARY KEY,
    id          text      NOT NULL,
    endpoint    text      NOT NULL,
    username    text      NOT NULL,
    event_type  text      NOT NULL,
    payload     text      NOT NULL,
    created_at  bigint    NOT NULL,
    status      text      NOT NULL,
    attempts    integer   NOT NULL DEFAULT 0,
    next_at     bigint    NOT NULL,
    lease_until bigint    NOT NULL DEFAULT 0,
    last_error  text,
    updated_at  bigint    NOT NULL
);
-- The heads of the queues: pending rows by endpoint, user and order.
CREATE INDEX events_pending ON events (endpoint, username, seq) WHERE status = 'pending';
-- The sweep of finished rows.
CREATE INDEX events_settled ON events (updated_at) WHERE status <> 'pending';
