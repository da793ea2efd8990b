-- The append-only guard's floor (guard_floor()) and what moves it besides
-- the guard itself: a table rewrite (every row gets the ALTER's xid) and an
-- UPDATE made in a subtransaction of the transaction that disabled and
-- re-enabled the guard.  The event triggers wal2queue_guard_rewrite
-- (table_rewrite) and wal2queue_guard_alter (ddl_command_end of ALTER
-- TABLE) record them in wal2queue.guard_events; without them the floor
-- follows the table's pg_class row.  In each case the rows were never
-- delivered (older than the slot, or never in WAL) and must stay.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger ORDER BY 1;
SELECT watched, since IS NOT NULL AS since_set FROM wal2queue.guard_watch(pg_current_xact_id());
CREATE SCHEMA ext_grd;
SELECT wal2queue.create_job_table('ext_grd.' || t) FROM unnest(ARRAY['rw', 'sub', 'fb', 'fn', 'ok']) t;
CREATE UNLOGGED TABLE ext_grd.ul (id int PRIMARY KEY, v text);
SELECT wal2queue.append_only('ext_grd.ul');
-- rows older than the slot: never delivered by it
INSERT INTO ext_grd.rw (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.sub (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.fb (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.fn (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
-- rows of an unlogged table: never in WAL
INSERT INTO ext_grd.ul SELECT i, 'never in WAL' FROM generate_series(1, 3) i;
SELECT wal2queue.create_slot('regress_w2q_grd', 'ext_grd.*') IS NOT NULL AS created;
-- rows the slot delivers
INSERT INTO ext_grd.ok (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;

-- consume the slot past every transaction begun so far and record what a
-- bridge's attestation would (see ext_prune.sql)
CREATE FUNCTION ext_grd_confirm() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  horizon xid := xid(pg_snapshot_xmax(pg_current_snapshot()));
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM pg_logical_slot_get_changes('regress_w2q_grd', NULL, NULL, 'format', 'json');
    CHECKPOINT;
    PERFORM pg_logical_slot_get_changes('regress_w2q_grd', NULL, NULL, 'format', 'json');
    EXIT WHEN (SELECT age(catalog_xmin) <= age(horizon) FROM pg_replication_slots
                WHERE slot_name = 'regress_w2q_grd');
    PERFORM pg_sleep(0.1);
  END LOOP;
  UPDATE wal2queue.slots r
     SET attested_xmin = wal2queue.full_xid(s.catalog_xmin, pg_snapshot_xmax(pg_current_snapshot())),
         attested_lsn = s.confirmed_flush_lsn, attested_at = now()
    FROM pg_replication_slots s WHERE s.slot_name = r.slot_name;
END $$;
CREATE FUNCTION ext_grd_counts() RETURNS TABLE (t text, n bigint) LANGUAGE sql AS $$
  SELECT 'rw', count(*) FROM ext_grd.rw UNION ALL SELECT 'sub', count(*) FROM ext_grd.sub
  UNION ALL SELECT 'fb', count(*) FROM ext_grd.fb UNION ALL SELECT 'fn', count(*) FROM ext_grd.fn
  UNION ALL SELECT 'ul', count(*) FROM ext_grd.ul UNION ALL SELECT 'ok', count(*) FROM ext_grd.ok
$$;

-- 1. a rewrite: ADD COLUMN with a volatile DEFAULT
ALTER TABLE ext_grd.rw ADD COLUMN r float8 DEFAULT random();
-- 2. SET LOGGED rewrites too: the rows that never reached WAL get its xid
ALTER TABLE ext_grd.ul SET LOGGED;
-- 3. an UPDATE in a subtransaction of the transaction that disables and
-- re-enables the guard
BEGIN;
ALTER TABLE ext_grd.sub DISABLE TRIGGER wal2queue_append_only;
SAVEPOINT s;
UPDATE ext_grd.sub SET queue = 'updated' WHERE payload = '1';
RELEASE SAVEPOINT s;
ALTER TABLE ext_grd.sub ENABLE ALWAYS TRIGGER wal2queue_append_only;
COMMIT;
-- a change that rewrites nothing and leaves the guard alone records nothing
-- (create_job_table() recorded the guard's creation)
SELECT xmin AS ok_event FROM wal2queue.guard_events WHERE relid = 'ext_grd.ok'::regclass \gset
ALTER TABLE ext_grd.ok ADD COLUMN note text;
SELECT relid::regclass, event FROM wal2queue.guard_events ORDER BY relid::regclass::text;
SELECT xmin = :'ok_event' AS ok_unchanged FROM wal2queue.guard_events WHERE relid = 'ext_grd.ok'::regclass;
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['rw', 'ul', 'sub', 'ok']) t;
SELECT * FROM ext_grd_counts();
-- rows inserted after those changes go as usual
INSERT INTO ext_grd.rw (queue, payload) VALUES ('q', '"new"');
INSERT INTO ext_grd.sub (queue, payload) VALUES ('q', '"new"');
INSERT INTO ext_grd.ul VALUES (4, 'new');
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['rw', 'ul', 'sub']) t;
SELECT * FROM ext_grd_counts();

-- 4. without the event triggers (disabled here; never created by the
-- standalone script of a role that is not a superuser) the floor follows
-- pg_class: a rewrite gives the table a new relfilenode
SELECT xmin AS fb_event FROM wal2queue.guard_events WHERE relid = 'ext_grd.fb'::regclass \gset
ALTER EVENT TRIGGER wal2queue_guard_rewrite DISABLE;
ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
SELECT watched FROM wal2queue.guard_watch(pg_current_xact_id());
ALTER TABLE ext_grd.fb ADD COLUMN r float8 DEFAULT random();
-- append_only() restores the guard in a subtransaction of its own
BEGIN;
ALTER TABLE ext_grd.fn DISABLE TRIGGER wal2queue_append_only;
SAVEPOINT s;
UPDATE ext_grd.fn SET queue = 'updated' WHERE payload = '1';
RELEASE SAVEPOINT s;
SELECT wal2queue.append_only('ext_grd.fn');
COMMIT;
SELECT xmin = :'fb_event' AS fb_not_recorded FROM wal2queue.guard_events WHERE relid = 'ext_grd.fb'::regclass;
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['fb', 'fn']) t;
-- enabled again: a rewrite made while they were off is still seen (their
-- own change moves every floor)
ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
SELECT watched FROM wal2queue.guard_watch(pg_current_xact_id());
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['fb', 'fn']) t;
SELECT * FROM ext_grd_counts();
-- force still deletes what every slot moved past
SELECT wal2queue.prune('ext_grd.rw', force => true);

SELECT pg_drop_replication_slot('regress_w2q_grd');
SELECT wal2queue.unregister_slot('regress_w2q_grd');
DROP FUNCTION ext_grd_confirm(), ext_grd_counts();
DROP SCHEMA ext_grd CASCADE;
DROP EXTENSION wal2queue;
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'wal2queue%';
DROP SCHEMA wal2queue;
