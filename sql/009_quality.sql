-- What validation did in a unit: {"violations": {"required.name": 2, "range.rating": 1}, "defaults": {"currency": 5}}.
-- NULL when the spec does not validate, or nothing was violated or filled.
ALTER TABLE ingest.units ADD COLUMN quality jsonb;
