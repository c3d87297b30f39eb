-- The transactional outbox of the payin service (DESIGN.md, "Events"): an event row is written in
-- the same transaction as the state change it describes, and a relay publishes unpublished rows
-- to the Redis Stream in id order, then sets published_at.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE CHECK (event_id LIKE 'evt\_%'),
    type         text        NOT NULL CHECK (type LIKE 'payin.%'),
    data         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay's scan: unpublished rows in order, without touching the published history.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
