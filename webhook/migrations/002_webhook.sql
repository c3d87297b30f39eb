-- The webhook service's state (docs/webhook.md). Times are microseconds since the Unix epoch
-- from the service's clock (`*_us`), so the engine's schedule can be driven by an injected clock
-- in tests and every replica compares leases on the same scale.

-- Stripe events received at POST /v1/inbound/stripe: stored once by Stripe's id, acknowledged,
-- then dispatched to the handler registered for their type by a background worker.
CREATE TABLE inbound_events (
    id              text    PRIMARY KEY CHECK (id LIKE 'evt\_%' AND length(id) <= 255),
    type            text    NOT NULL CHECK (length(type) <= 255),
    payload         text    NOT NULL,          -- the body exactly as received
    received_us     bigint  NOT NULL,
    processed_us    bigint,                    -- NULL until a handler (or none) took it
    handler         text,                      -- the handler that took it; NULL: none registered
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_us bigint  NOT NULL,
    last_error      text
);
CREATE INDEX inbound_events_unprocessed ON inbound_events (next_attempt_us)
    WHERE processed_us IS NULL;

-- Subscribers of our events.
CREATE TABLE endpoints (
    id                    text    PRIMARY KEY CHECK (id LIKE 'we\_%'),
    url                   text    NOT NULL CHECK (length(url) <= 2048),
    description           text    NOT NULL DEFAULT '',
    event_types           text[]  NOT NULL,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    rate_limit_per_second integer CHECK (rate_limit_per_second > 0),
    max_in_flight         integer CHECK (max_in_flight > 0),
    ordered               boolean NOT NULL DEFAULT false,
    -- Health: the circuit breaker and automatic disabling (webhook/domain/policy.hpp).
    consecutive_failures  integer NOT NULL DEFAULT 0,
    failing_since_us      bigint,
    circuit_open_until_us bigint,
    -- The rate limit's token bucket, shared by every replica through the row lock.
    rate_tokens           double precision NOT NULL DEFAULT 0,
    rate_updated_us       bigint  NOT NULL DEFAULT 0,
    created_us            bigint  NOT NULL,
    updated_us            bigint  NOT NULL,
    deleted_us            bigint
);
CREATE INDEX endpoints_live ON endpoints (id) WHERE deleted_us IS NULL;

-- Signing secrets: the current one (expires_us NULL) and, after a rotation, the previous one
-- until it expires. Every unexpired secret signs each delivery.
CREATE TABLE endpoint_secrets (
    endpoint_id text   NOT NULL REFERENCES endpoints (id),
    secret      text   NOT NULL CHECK (secret LIKE 'whsec\_%'),
    created_us  bigint NOT NULL,
    expires_us  bigint,
    PRIMARY KEY (endpoint_id, created_us)
);

-- Events to deliver, from the stream or POST /v1/events, stored once by id.
CREATE TABLE events (
    id          text   PRIMARY KEY CHECK (id LIKE 'evt\_%'),
    type        text   NOT NULL,
    source      text   NOT NULL,
    created     bigint NOT NULL,     -- Unix seconds, from the envelope
    payload     text   NOT NULL,     -- the body every delivery sends, byte for byte
    received_us bigint NOT NULL
);

-- One event to one endpoint.
CREATE TABLE deliveries (
    id               text    PRIMARY KEY CHECK (id LIKE 'dlv\_%'),
    seq              bigint  GENERATED ALWAYS AS IDENTITY,  -- an endpoint's order of deliveries
    event_id         text    NOT NULL REFERENCES events (id),
    endpoint_id      text    NOT NULL REFERENCES endpoints (id),
    status           text    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    step             integer NOT NULL DEFAULT 0,  -- the retry schedule's index of the next attempt
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_us  bigint  NOT NULL,
    -- While an attempt is in flight: until when it is ours, and the claim that owns it. A
    -- replica records a result only while it still holds the token.
    lease_until_us   bigint,
    lease_token      bigint,
    last_status_code integer,
    last_error       text,
    created_us       bigint  NOT NULL,
    completed_us     bigint,
    UNIQUE (endpoint_id, event_id)
);
-- The dispatcher's scan: pending deliveries by due time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_us) WHERE status = 'pending';
-- Ordered endpoints: the oldest pending delivery of an endpoint.
CREATE INDEX deliveries_endpoint_pending ON deliveries (endpoint_id, seq) WHERE status = 'pending';
-- In-flight counts per endpoint.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id) WHERE lease_until_us IS NOT NULL;
-- Recover: an endpoint's deliveries since a time.
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_us);

-- The attempt log.
CREATE TABLE attempts (
    id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   text    NOT NULL REFERENCES deliveries (id),
    endpoint_id   text    NOT NULL,
    attempted_us  bigint  NOT NULL,
    status_code   integer,
    latency_us    bigint  NOT NULL,
    error         text,
    response_body text    NOT NULL DEFAULT ''  -- at most 4 KB
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);
