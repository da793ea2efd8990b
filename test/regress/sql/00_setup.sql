-- Helpers shared by the plugin tests: mask what changes from run to run
-- (commit LSN, transaction id) so the JSON contract can be compared exactly.
CREATE FUNCTION w2q_mask(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(t, '"lsn":"[0-9A-F]+/[0-9A-F]+","xid":[0-9]+',
                        '"lsn":"L","xid":X')
$$;
-- consume a slot in the JSON form, masked
CREATE FUNCTION w2q_json(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT w2q_mask(data)
  FROM pg_logical_slot_get_changes(slot, NULL, NULL,
                                   VARIADIC array['format', 'json'] || opts)
$$;
SELECT 'init' FROM pg_create_logical_replication_slot('w2q_probe', 'wal2queue');
SELECT pg_drop_replication_slot('w2q_probe');
