-- The configuration shared by every instance on one database (issue 14, point 5). Each admin
-- write, import of a host's platform.yml and rollback is a new row; the newest row is what every
-- instance runs. `yaml` is platform.yml as written (`${ENV}` references unresolved: each
-- instance resolves them with its own environment); `library` the files of templates/ (path
-- under templates/ -> text); `source_hash` the SHA-256 of both, as `configHash` shows it.
CREATE TABLE config_versions (
    version     bigserial   PRIMARY KEY,
    yaml        text        NOT NULL,
    library     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source_hash text        NOT NULL,
    author      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    note        text        NOT NULL DEFAULT ''
);
