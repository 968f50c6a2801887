-- Small units load in batches: one transaction for many units, each fenced by its own token.
-- batch: the dispatch key of the batch that last took the unit while it was pending. A unit still
-- open with a batch set was in a batch that did not commit (a batch-mate failed, or killed the
-- silo): from then on it runs alone, so a poison unit cannot use up its batch-mates' attempts.
ALTER TABLE ingest.units ADD COLUMN batch text;
