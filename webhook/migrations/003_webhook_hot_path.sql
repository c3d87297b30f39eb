-- Less work per delivery on the hot path (docs/BENCHMARKS.md, "Webhook delivery").
--
-- Every delivery is an insert into `deliveries`, one or more updates of it and an insert into
-- `attempts`, so every index and trigger on those tables is paid for thousands of times a
-- second. Measured on the bench, these three foreign keys and the recover index cost about a
-- third of PostgreSQL's time per delivery.

-- The foreign keys ran a trigger query per inserted row. The references hold by construction:
-- events and endpoints are never deleted (an endpoint is marked deleted_us), a delivery is only
-- inserted in the transaction that inserts its event after reading its endpoint, and an attempt
-- only for a delivery the engine claimed. The integration tests check after every test that no
-- delivery or attempt points at a missing row.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;

-- Recover only looks at failed deliveries: index just those, not every delivery ever made.
DROP INDEX deliveries_endpoint_created;
CREATE INDEX deliveries_failed ON deliveries (endpoint_id, created_us) WHERE status = 'failed';

-- In-flight deliveries per endpoint, for the in-flight bound of every claim. Leases churn:
-- each one adds an entry to deliveries_leased and leaves it dead when the attempt is recorded.
-- A plain index scan marks dead entries as it passes them, so later scans skip them; a bitmap
-- scan never does, and the planner's choice for the inline query (a bitmap scan of this index
-- ANDed with one of deliveries_due) read the whole of both indexes on every claim, thousands
-- of dead entries each time. A lease only exists on a pending delivery (every statement that
-- ends one clears it), so the lease alone is tested.
CREATE FUNCTION in_flight(endpoint_ids text[], now_us bigint)
    RETURNS TABLE (endpoint_id text, in_flight bigint)
    LANGUAGE plpgsql STABLE
    SET enable_bitmapscan = off
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- PL/pgSQL keeps the plan for the session; an SQL function would plan it on every call.
    RETURN QUERY
        SELECT d.endpoint_id, count(*) FROM deliveries d
        WHERE d.endpoint_id = ANY (endpoint_ids) AND d.lease_until_us IS NOT NULL
          AND d.lease_until_us > now_us
        GROUP BY d.endpoint_id;
END
$$;
