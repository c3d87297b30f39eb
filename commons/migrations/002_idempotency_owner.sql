-- Fencing for idempotency keys: the request that holds a key writes a random owner token, and
-- completing or releasing the key only succeeds for that owner. A request that ran past its
-- lease (and lost the key to a retry) can then neither overwrite nor delete the retry's row.
ALTER TABLE idempotency_keys ADD COLUMN owner text;
