-- Retention (docs/webhook.md, "Retention"): the purge finds old deliveries and events by their
-- time-ordered ids, through the primary keys. Inbound Stripe events have Stripe's ids, so they
-- are found by the time they were processed, through this index of processed ones.
CREATE INDEX inbound_events_processed ON inbound_events (processed_us)
    WHERE processed_us IS NOT NULL;
