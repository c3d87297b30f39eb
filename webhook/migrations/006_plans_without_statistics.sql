-- The claim scan and the record update as functions whose plans do not depend on statistics
-- (docs/BENCHMARKS.md, "Fourth series").
--
-- Both filter on `status = 'pending'`, which lets the planner use `deliveries_due`, the partial
-- index of pending deliveries. How many deliveries are pending swings from none to a backlog of
-- millions between two runs of ANALYZE, and with statistics from a quiet moment the planner
-- takes the pending set for tiny. Then the claim read every due delivery with a bitmap scan and
-- sorted them all (46 ms for a 32,000-delivery backlog instead of reading the first 64 in
-- index order), and the record update hash-joined its batch with a full scan of
-- `deliveries_due` instead of looking each delivery up by its primary key: a backlog drained
-- at about 2,300 deliveries/s on the bench, most of it spent in these two statements.
--
-- PL/pgSQL keeps each function's plan for the session, made under the function's settings.

-- The oldest due, unleased deliveries of the given endpoints, locked, skipping those another
-- transaction holds: read in `deliveries_due` order, stopping at max_rows.
CREATE FUNCTION claim_due(now_us bigint, max_rows integer, endpoint_ids text[])
    RETURNS TABLE (delivery_id text, delivery_endpoint_id text)
    LANGUAGE plpgsql VOLATILE
    SET enable_bitmapscan = off
    SET enable_seqscan = off
    SET enable_sort = off
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- The endpoint filter is kept out of reach of deliveries_endpoint_pending on purpose: a
    -- plan through it would read and sort an endpoint's whole backlog.
    RETURN QUERY
        SELECT d.id, d.endpoint_id FROM deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_us <= now_us
          AND (d.lease_until_us IS NULL OR d.lease_until_us <= now_us)
          AND (d.endpoint_id || '') = ANY (endpoint_ids)
        ORDER BY d.next_attempt_us
        LIMIT max_rows
        FOR NO KEY UPDATE SKIP LOCKED;
END
$$;

-- Records attempts' outcomes on deliveries still leased under the given tokens; returns the
-- deliveries changed. Each is found by its primary key: the status test is written so that no
-- partial index of pending deliveries matches it, which leaves the primary key as the only
-- index the join can probe.
CREATE FUNCTION record_outcomes(ids text[], tokens bigint[], statuses text[], steps integer[],
                                next_attempts bigint[], codes integer[], errors text[],
                                completed bigint[])
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET enable_bitmapscan = off
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN QUERY
        UPDATE deliveries d SET status = u.status, step = u.step, next_attempt_us = u.next,
            last_status_code = u.code, last_error = u.error, completed_us = u.completed,
            lease_until_us = NULL, lease_token = NULL
        FROM unnest(ids, tokens, statuses, steps, next_attempts, codes, errors, completed)
            AS u(id, token, status, step, next, code, error, completed)
        WHERE d.id = u.id AND d.lease_token = u.token AND (d.status || '') = 'pending'
        RETURNING d.id;
END
$$;
