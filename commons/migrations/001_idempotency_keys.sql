-- Idempotency keys (Stripe's semantics; see middleware/idempotency.hpp). Applied into every
-- service's schema. A key is scoped to the API key that used it; the first complete response is
-- stored and replayed for at least the retention period, then purged in bounded batches.
CREATE TABLE idempotency_keys (
    key_id            text        NOT NULL,
    idempotency_key   text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    method            text        NOT NULL,
    path              text        NOT NULL,
    body_sha256       text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('running', 'complete')),
    -- While running: the request holds the key until this moment; a replica that crashed
    -- mid-request leaves a lease that expires, and a retry then takes the key over.
    locked_until      timestamptz,
    -- For work in several atomic phases (calls to a processor): where a retry resumes.
    recovery_point    text        NOT NULL DEFAULT 'started',
    response_status   integer,
    response_headers  jsonb,
    response_body     bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    PRIMARY KEY (key_id, idempotency_key),
    CHECK (state = 'running' OR response_status IS NOT NULL)
);

-- The purge job's scan.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
