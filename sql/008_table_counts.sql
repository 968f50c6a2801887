-- What a unit of a relational target did to each table:
-- [{"table": "games", "inserted": 1, "updated": 0, "unchanged": 0, "deleted": 0}, {"table": "game_platforms", ...}],
-- an array so that the tables keep the plan's order.
-- NULL for a flat target, whose counts are the rows_* columns.
ALTER TABLE ingest.units ADD COLUMN table_counts jsonb;
