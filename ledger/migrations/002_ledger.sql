-- The ledger (DESIGN.md, "The ledger"). Invariants are enforced three times: by the state
-- machine in ledger/domain, by the constraints and triggers below, and by `verify`.

-- Custom currencies; the ISO 4217 table is built into the binary.
CREATE TABLE currencies (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9]{2,11}$'),
    exponent   integer NOT NULL CHECK (exponent BETWEEN 0 AND 18),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    -- Listing order: ids may be chosen by clients, so they do not sort by creation.
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    currency        text NOT NULL,
    normal_balance  text NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    name            text NOT NULL DEFAULT '',
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
    metadata        jsonb NOT NULL DEFAULT '{}',
    closed          boolean NOT NULL DEFAULT false,
    lock_version    bigint NOT NULL DEFAULT 0 CHECK (lock_version >= 0),
    pending_debits  bigint NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
    pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
    posted_debits   bigint NOT NULL DEFAULT 0 CHECK (posted_debits >= 0),
    posted_credits  bigint NOT NULL DEFAULT 0 CHECK (posted_credits >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Each side's pending plus posted fits in int64, so every derived balance does.
    CHECK (pending_debits::numeric + posted_debits <= 9223372036854775807),
    CHECK (pending_credits::numeric + posted_credits <= 9223372036854775807),
    -- The balance constraints count pending amounts against the account.
    CHECK (NOT debits_must_not_exceed_credits
           OR pending_debits::numeric + posted_debits <= posted_credits),
    CHECK (NOT credits_must_not_exceed_debits
           OR pending_credits::numeric + posted_credits <= posted_debits)
);

CREATE INDEX accounts_currency ON accounts (currency, seq);
CREATE INDEX accounts_metadata ON accounts USING gin (metadata jsonb_path_ops);

-- An account's identity never changes; only counters, name, metadata and closed do.
CREATE FUNCTION accounts_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.currency <> OLD.currency
       OR NEW.normal_balance <> OLD.normal_balance
       OR NEW.debits_must_not_exceed_credits <> OLD.debits_must_not_exceed_credits
       OR NEW.credits_must_not_exceed_debits <> OLD.credits_must_not_exceed_debits THEN
        RAISE EXCEPTION 'ledger accounts keep their id, currency, side and flags';
    END IF;
    IF NEW.lock_version < OLD.lock_version THEN
        RAISE EXCEPTION 'ledger account lock_version never decreases';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_immutable BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_immutable();
CREATE FUNCTION ledger_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger % rows are never deleted', TG_TABLE_NAME;
END $$;
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_no_delete();

CREATE TABLE transactions (
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    status          text NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    created_pending boolean NOT NULL,
    -- The entries as created, one array element per entry.
    account_ids     text[] NOT NULL,
    directions      text[] NOT NULL,
    amounts         bigint[] NOT NULL,
    currencies      text[] NOT NULL,
    -- Per entry, what was posted (NULL while pending and for voided/expired ones).
    posted_amounts  bigint[],
    timeout_seconds bigint,
    expires_at      timestamptz,
    effective_at    timestamptz NOT NULL,
    description     text NOT NULL DEFAULT '',
    metadata        jsonb NOT NULL DEFAULT '{}',
    reverses_id     text REFERENCES transactions (id),
    reversed_by_id  text REFERENCES transactions (id) DEFERRABLE INITIALLY DEFERRED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(account_ids) BETWEEN 1 AND 64),
    CHECK (cardinality(directions) = cardinality(account_ids)
           AND cardinality(amounts) = cardinality(account_ids)
           AND cardinality(currencies) = cardinality(account_ids)),
    CHECK (0 < ALL (amounts)),
    CHECK ((status = 'posted') = (posted_amounts IS NOT NULL)),
    CHECK (posted_amounts IS NULL OR cardinality(posted_amounts) = cardinality(amounts)),
    CHECK (expires_at IS NULL OR created_pending)
);

-- The sweeper's scan: pending transactions by deadline.
CREATE INDEX transactions_expiring ON transactions (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX transactions_status ON transactions (status, seq);

-- A transaction's content is immutable; its status moves only from pending, and a reversal
-- link is set once.
CREATE FUNCTION transactions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.account_ids <> OLD.account_ids OR NEW.directions <> OLD.directions
       OR NEW.amounts <> OLD.amounts OR NEW.currencies <> OLD.currencies
       OR NEW.created_pending <> OLD.created_pending OR NEW.effective_at <> OLD.effective_at
       OR NEW.created_at <> OLD.created_at
       OR NEW.reverses_id IS DISTINCT FROM OLD.reverses_id
       OR NEW.description <> OLD.description OR NEW.metadata <> OLD.metadata THEN
        RAISE EXCEPTION 'ledger transactions are immutable; book a reversal';
    END IF;
    IF NEW.status <> OLD.status AND OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'ledger transaction % is % and cannot become %', OLD.id, OLD.status, NEW.status;
    END IF;
    IF OLD.posted_amounts IS NOT NULL AND NEW.posted_amounts IS DISTINCT FROM OLD.posted_amounts THEN
        RAISE EXCEPTION 'ledger transaction % posted amounts are immutable', OLD.id;
    END IF;
    IF OLD.reversed_by_id IS NOT NULL AND NEW.reversed_by_id IS DISTINCT FROM OLD.reversed_by_id THEN
        RAISE EXCEPTION 'ledger transaction % is already reversed', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER transactions_immutable BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_immutable();
CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_no_delete();

-- The journal: every change to an account's counters, append-only, with the counters right
-- after it (history and point-in-time balances read these).
CREATE TABLE entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  text NOT NULL REFERENCES transactions (id),
    account_id      text NOT NULL REFERENCES accounts (id),
    currency        text NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
    kind            text NOT NULL CHECK (kind IN ('created', 'posted', 'voided', 'expired')),
    pending_delta   bigint NOT NULL,
    posted_delta    bigint NOT NULL CHECK (posted_delta >= 0),
    pending_debits  bigint NOT NULL,
    pending_credits bigint NOT NULL,
    posted_debits   bigint NOT NULL,
    posted_credits  bigint NOT NULL,
    effective_at    timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX entries_account ON entries (account_id, id);
CREATE INDEX entries_transaction ON entries (transaction_id);

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();

-- Every statement that appends entries must balance per transaction, kind and currency, on both
-- the pending and the posted counters (one statement writes whole commands).
CREATE FUNCTION entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT transaction_id, kind, currency INTO bad
      FROM new_entries
     GROUP BY transaction_id, kind, currency
    HAVING sum(CASE direction WHEN 'debit' THEN pending_delta::numeric ELSE -pending_delta::numeric END) <> 0
        OR sum(CASE direction WHEN 'debit' THEN posted_delta::numeric ELSE -posted_delta::numeric END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entries of transaction % (%, %) do not balance',
            bad.transaction_id, bad.kind, bad.currency;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_balanced AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_balanced();
