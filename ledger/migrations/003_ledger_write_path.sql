-- The write path of group commit (the ledger throughput issue).
--
-- Account rows are updated once per batch that touches them. With room left on their pages,
-- PostgreSQL updates them in place (a HOT update: no new entry in any of the four indexes,
-- including the metadata GIN index), as none of the updated columns is indexed.
ALTER TABLE accounts SET (fillfactor = 50);

-- Most transactions are created posted and never change; only the rest need an index by
-- status (listing pending, voided or expired ones). Listing posted ones scans by recency.
DROP INDEX transactions_status;
CREATE INDEX transactions_not_posted ON transactions (status, seq) WHERE status <> 'posted';
