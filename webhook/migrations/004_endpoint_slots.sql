-- In-flight bounds by slot rows instead of counting leases (docs/webhook.md, "In-flight slots";
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

-- Deliveries in flight when this migration runs keep their slots: one slot row per lease.
INSERT INTO endpoint_slots (endpoint_id, slot, lease_until_us, lease_token)
SELECT endpoint_id, (row_number() OVER (PARTITION BY endpoint_id ORDER BY id) - 1)::integer,
       lease_until_us, lease_token
FROM deliveries WHERE lease_until_us IS NOT NULL AND status = 'pending';
UPDATE endpoints e SET slots = s.n
FROM (SELECT endpoint_id, count(*)::integer AS n FROM endpoint_slots GROUP BY endpoint_id) s
WHERE e.id = s.endpoint_id;

-- Replicas of the previous version still call in_flight() until they are replaced: they now
-- see the slots held by this version's replicas (not their own leases, which this version
-- does not count either). During such a rollout the in-flight bound holds per version.
CREATE OR REPLACE FUNCTION in_flight(endpoint_ids text[], now_us bigint)
    RETURNS TABLE (endpoint_id text, in_flight bigint)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
    SELECT s.endpoint_id, count(*) FROM endpoint_slots s
    WHERE s.endpoint_id = ANY (endpoint_ids) AND s.lease_until_us > now_us
    GROUP BY s.endpoint_id
$$;

-- Nothing reads the leases by endpoint any more; without this index, taking and giving back a
-- delivery's lease changes no indexed column and can be a HOT update too.
DROP INDEX deliveries_leased;
