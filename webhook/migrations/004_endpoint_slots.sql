-- In-flight bounds by slot rows instead of counting leases (docs/webhook.md, "Per endpoint";
-- docs/BENCHMARKS.md, "Fourth series").
--
-- Every admission used to count an endpoint's leased deliveries under the endpoint row's lock.
-- The count walked `deliveries_leased`, whose range for a busy endpoint fills with the entries
-- of leases already ended until vacuum removes them: about 5.6 ms a count on the bench after a
-- few seconds at 5,000 deliveries/s, and every intake and claim of the endpoint queued behind
-- the lock held across it.
--
-- Now an endpoint has one row per place in flight, slots 0 to n - 1, created as its limit needs
-- them. A delivery in flight holds one slot under the same lease and token as the delivery: an
-- admission takes free slots (lease ended) below the endpoint's current limit with SKIP LOCKED,
-- so it never waits for another, and recording the attempt frees the slot. The slot's columns
-- are not indexed, so taking and freeing one are HOT updates of a small table.
CREATE TABLE endpoint_slots (
    endpoint_id    text    NOT NULL,
    slot           integer NOT NULL CHECK (slot >= 0),
    lease_until_us bigint  NOT NULL DEFAULT 0,  -- free once this has passed
    lease_token    bigint,
    PRIMARY KEY (endpoint_id, slot)
) WITH (fillfactor = 50);  -- room on each page for the HOT updates

-- How many slot rows the endpoint has (0 to slots - 1); more are added when its limit grows.
ALTER TABLE endpoints ADD COLUMN slots integer NOT NULL DEFAULT 0 CHECK (slots >= 0);

-- Deliveries in flight when this migration runs keep their places: one slot row per live lease.
INSERT INTO endpoint_slots (endpoint_id, slot, lease_until_us, lease_token)
SELECT endpoint_id, (row_number() OVER (PARTITION BY endpoint_id ORDER BY id) - 1)::integer,
       lease_until_us, lease_token
FROM deliveries
WHERE lease_until_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
  AND status = 'pending';
UPDATE endpoints e SET slots = s.n
FROM (SELECT endpoint_id, count(*)::integer AS n FROM endpoint_slots GROUP BY endpoint_id) s
WHERE e.id = s.endpoint_id;

-- Replicas of the previous version call in_flight() until they are replaced. Both versions
-- lease deliveries the same way, so counting the leases of an endpoint's pending deliveries
-- still counts both; without `deliveries_leased` it goes through the pending deliveries'
-- index, slower under a backlog but only for the length of the rollout. This version's
-- replicas count slots only, so while old replicas still run, the two together can exceed an
-- endpoint's bound by what the old ones have in flight (docs/webhook.md, "Upgrading").
CREATE OR REPLACE FUNCTION in_flight(endpoint_ids text[], now_us bigint)
    RETURNS TABLE (endpoint_id text, in_flight bigint)
    LANGUAGE plpgsql STABLE
    SET enable_bitmapscan = off
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN QUERY
        SELECT d.endpoint_id, count(*) FROM deliveries d
        WHERE d.endpoint_id = ANY (endpoint_ids) AND d.status = 'pending'
          AND d.lease_until_us > now_us
        GROUP BY d.endpoint_id;
END
$$;

-- Nothing of this version reads the leases by endpoint; without this index, taking and giving
-- back a delivery's lease changes no indexed column and can be a HOT update.
DROP INDEX deliveries_leased;
