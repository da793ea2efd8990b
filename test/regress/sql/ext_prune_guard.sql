-- The append-only guard's floor (guard_floor()): the xmin of the last
-- record of the table's guard state (its file, its guard triggers) in
-- wal2queue.guard_events, valid only while that state is unchanged.  The
-- event triggers wal2queue_guard_rewrite (table_rewrite) and
-- wal2queue_guard_alter (ddl_command_end of ALTER TABLE, ALTER TYPE, CREATE
-- TABLE, CREATE and ALTER TRIGGER) record each change, in one
-- subtransaction after the command; append_only() records too.  A change
-- recorded nowhere (event triggers off, VACUUM FULL) makes the floor
-- unknown: prune() keeps the table's rows until append_only() is run.  In
-- each case the rows were never delivered (older than the slot, or never
-- in WAL) and must stay.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger ORDER BY 1;
CREATE SCHEMA ext_grd;
SELECT wal2queue.create_job_table('ext_grd.' || t) FROM unnest(ARRAY['rw', 'sub', 'fb', 'fn', 'ok', 'ren', 'nar', 'tx', 'vf']) t;
CREATE UNLOGGED TABLE ext_grd.ul (id int PRIMARY KEY, v text);
SELECT wal2queue.append_only('ext_grd.ul');
-- a table partitioned by day with two old partitions, for maintain_partitions()
SELECT wal2queue.create_job_table('ext_grd.mp', true);
CREATE TABLE ext_grd.mp_old1 PARTITION OF ext_grd.mp FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-02 00:00+00');
CREATE TABLE ext_grd.mp_old2 PARTITION OF ext_grd.mp FOR VALUES FROM ('2000-01-02 00:00+00') TO ('2000-01-03 00:00+00');
INSERT INTO ext_grd.mp (queue, payload, created_at) VALUES ('q', '"old"', '2000-01-01 12:00+00');
-- rows older than the slot: never delivered by it
INSERT INTO ext_grd.rw (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.sub (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.fb (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.fn (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.ren (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.nar (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.tx (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.vf (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
-- an inheritance child (not a partition) of a job table: the plugin sends
-- its rows under its own name, so prune() of the parent leaves them to
-- prune() of the child
CREATE TABLE ext_grd.ok_old () INHERITS (ext_grd.ok);
SELECT wal2queue.append_only('ext_grd.ok_old');
-- rows of an unlogged table: never in WAL
INSERT INTO ext_grd.ul SELECT i, 'never in WAL' FROM generate_series(1, 3) i;
SELECT wal2queue.create_slot('regress_w2q_grd', 'ext_grd.*') IS NOT NULL AS created;
-- rows the slot delivers
INSERT INTO ext_grd.ok (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.ok_old (queue, payload) SELECT 'old', to_jsonb(i) FROM generate_series(1, 3) i;
INSERT INTO ext_grd.mp (queue, payload, created_at) VALUES ('q', '"delivered"', '2000-01-02 12:00+00');

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
  UNION ALL SELECT 'ul', count(*) FROM ext_grd.ul UNION ALL SELECT 'ok', count(*) FROM ONLY ext_grd.ok
  UNION ALL SELECT 'ok_old', count(*) FROM ext_grd.ok_old
  UNION ALL SELECT 'ren', count(*) FROM ext_grd.ren UNION ALL SELECT 'nar', count(*) FROM ext_grd.nar
  UNION ALL SELECT 'tx', count(*) FROM ext_grd.tx UNION ALL SELECT 'vf', count(*) FROM ext_grd.vf
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
-- 4. the same with the guard renamed away and back (ALTER TRIGGER fires
-- ddl_command_end too; the guard is known by its function, not its name)
BEGIN;
ALTER TRIGGER wal2queue_append_only ON ext_grd.ren RENAME TO w2q_off;
ALTER TABLE ext_grd.ren DISABLE TRIGGER w2q_off;
SAVEPOINT s;
UPDATE ext_grd.ren SET queue = 'updated' WHERE payload = '1';
RELEASE SAVEPOINT s;
ALTER TABLE ext_grd.ren ENABLE ALWAYS TRIGGER w2q_off;
ALTER TRIGGER w2q_off ON ext_grd.ren RENAME TO wal2queue_append_only;
COMMIT;
-- 5. a guard that refuses only some UPDATEs is no guard: prune() refuses
-- the table; append_only() replaces it with a complete one
CREATE OR REPLACE TRIGGER wal2queue_append_only BEFORE UPDATE OF queue ON ext_grd.nar
    FOR EACH ROW EXECUTE FUNCTION wal2queue.refuse_update();
SELECT count(*) AS guards, bool_or(complete) AS complete FROM wal2queue.guard_triggers('ext_grd.nar'::regclass);
UPDATE ext_grd.nar SET payload = '"updated"' WHERE payload = '1';
SELECT wal2queue.prune('ext_grd.nar');
CREATE OR REPLACE TRIGGER wal2queue_append_only BEFORE UPDATE ON ext_grd.nar
    FOR EACH ROW WHEN (OLD.queue = 'q') EXECUTE FUNCTION wal2queue.refuse_update();
SELECT wal2queue.guard_problem('ext_grd.nar');
SELECT wal2queue.append_only('ext_grd.nar');
SELECT complete FROM wal2queue.guard_triggers('ext_grd.nar'::regclass);
UPDATE ext_grd.nar SET payload = '"again"' WHERE payload = '2';
-- a change that rewrites nothing and leaves the guard and the columns alone
-- records nothing (create_job_table() recorded the guard's creation; a
-- column added, dropped or renamed changes the rows' text: text_shape())
SELECT xmin AS ok_event FROM wal2queue.guard_events WHERE relid = 'ext_grd.ok'::regclass \gset
ALTER TABLE ext_grd.ok SET (fillfactor = 90);
SELECT relid::regclass, event FROM wal2queue.guard_events
 WHERE relid::regclass::text NOT LIKE 'ext_grd.mp_p%' ORDER BY relid::regclass::text, seq;
SELECT xmin = :'ok_event' AS ok_unchanged FROM wal2queue.guard_events WHERE relid = 'ext_grd.ok'::regclass;
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['rw', 'ul', 'sub', 'ok', 'ren', 'nar']) t;
SELECT * FROM ext_grd_counts();
-- rows inserted after those changes go as usual
INSERT INTO ext_grd.rw (queue, payload) VALUES ('q', '"new"');
INSERT INTO ext_grd.sub (queue, payload) VALUES ('q', '"new"');
INSERT INTO ext_grd.ul VALUES (4, 'new');
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['rw', 'ul', 'sub', 'ok']) t;
SELECT * FROM ext_grd_counts();

-- 6. without the event triggers (disabled here; never created by the
-- standalone script of a role that is not a superuser) a rewrite or a
-- change of the guard is recorded nowhere: the guard state differs from
-- the one recorded, the floor is unknown and prune() keeps every row of the
-- table (a NOTICE says so) until append_only() records the guard again
ALTER EVENT TRIGGER wal2queue_guard_rewrite DISABLE;
ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
ALTER TABLE ext_grd.fb ADD COLUMN r float8 DEFAULT random();
BEGIN;
ALTER TABLE ext_grd.fn DISABLE TRIGGER wal2queue_append_only;
SAVEPOINT s;
UPDATE ext_grd.fn SET queue = 'updated' WHERE payload = '1';
RELEASE SAVEPOINT s;
ALTER TABLE ext_grd.fn ENABLE ALWAYS TRIGGER wal2queue_append_only;
COMMIT;
ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
-- 7. event triggers off, a rewrite in a savepoint and on again, in one
-- transaction
BEGIN;
ALTER EVENT TRIGGER wal2queue_guard_rewrite DISABLE;
ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
SAVEPOINT s;
ALTER TABLE ext_grd.tx ADD COLUMN r float8 DEFAULT random();
ALTER TABLE ext_grd.mp_old1 SET UNLOGGED;
ALTER TABLE ext_grd.mp_old1 SET LOGGED;
RELEASE SAVEPOINT s;
ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
COMMIT;
-- 8. VACUUM FULL keeps the rows' xmin, but it too gives the table a new
-- file that no event trigger sees: the same outage, the same way out
VACUUM FULL ext_grd.vf;
SELECT t, wal2queue.guard_problem(('ext_grd.' || t)::regclass)
  FROM unnest(ARRAY['fb', 'fn', 'tx', 'vf', 'rw', 'ok']) t;
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['fb', 'fn', 'tx', 'vf']) t;
-- maintain_partitions() keeps the old partition rewritten unrecorded (its
-- row, never delivered, now has the rewrite's xid) and drops the other
SELECT * FROM wal2queue.maintain_partitions('ext_grd.mp', 0, 7) ORDER BY 2;
-- a later ALTER TABLE with the event triggers on records the state, in a
-- subtransaction after the command: every row before counts as undelivered
ALTER TABLE ext_grd.fb ADD COLUMN note text;
SELECT wal2queue.append_only('ext_grd.' || t) FROM unnest(ARRAY['fn', 'tx', 'vf']) t;
SELECT t, wal2queue.guard_problem(('ext_grd.' || t)::regclass)
  FROM unnest(ARRAY['fb', 'fn', 'tx', 'vf']) t;
SELECT ext_grd_confirm();
SELECT wal2queue.prune('ext_grd.' || t) FROM unnest(ARRAY['fb', 'fn', 'tx', 'vf']) t;
SELECT * FROM ext_grd_counts();
-- the child is judged under its own name (which this slot selects)
SELECT wal2queue.prune('ext_grd.ok_old');
SELECT count(*) AS ok_old FROM ext_grd.ok_old;
-- 9. one rewrite of a partitioned table with 70 partitions: one
-- subtransaction records them all (more than 64 would overflow the
-- backend's subxid cache)
CREATE TABLE ext_grd.pj (id bigint, created_at int) PARTITION BY RANGE (created_at);
SELECT wal2queue.append_only('ext_grd.pj');
DO $$ BEGIN
  FOR g IN 1..70 LOOP
    EXECUTE format('CREATE TABLE ext_grd.pj_%s PARTITION OF ext_grd.pj FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
  END LOOP;
END $$;
-- (creating them in one transaction records each with the creating xid:
-- no subtransaction at all)
SELECT count(*) AS tables, count(DISTINCT xmin::text) AS xids FROM wal2queue.guard_events
 WHERE event = 'CREATE TABLE' AND relid::regclass::text LIKE 'ext_grd.pj%';
BEGIN;
ALTER TABLE ext_grd.pj ADD COLUMN shard float8 DEFAULT random();
SELECT count(*) AS tables, count(DISTINCT xmin::text) AS xids FROM wal2queue.guard_events
 WHERE event = 'ALTER TABLE (rewrite)' AND relid::regclass::text LIKE 'ext_grd.pj%' AND relid <> 'ext_grd.pj'::regclass;
COMMIT;
SELECT count(*) AS unknown_floors FROM wal2queue.job_leaves('ext_grd.pj') l
 WHERE wal2queue.guard_problem(l) IS NOT NULL;
-- force still deletes what every slot moved past
SELECT wal2queue.prune('ext_grd.rw', force => true);

-- record_guard() records only for a login role that is a member of the
-- table's owner
SELECT 'ext_grd.ok'::regclass::oid AS ok_oid \gset
CREATE ROLE regress_w2q_grd_other;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_grd_other;
SET SESSION AUTHORIZATION regress_w2q_grd_other;
SELECT wal2queue.record_guard(:ok_oid::oid::regclass, 'forged');
RESET SESSION AUTHORIZATION;
REVOKE USAGE ON SCHEMA wal2queue FROM regress_w2q_grd_other;
DROP ROLE regress_w2q_grd_other;

-- 10. the text shape (text_shape()): ALTER TYPE of an enum a job table
-- uses (in an array too) locks the table in SHARE mode, so no INSERT runs
-- under the old labels meanwhile, and records its new state; an enum it
-- does not use changes nothing; a column dropped records too
CREATE TYPE ext_grd.lbl AS ENUM ('long_label', 'b');
CREATE TYPE ext_grd.other AS ENUM ('x');
CREATE TABLE ext_grd.en (id int, tags ext_grd.lbl[], extra text);
SELECT wal2queue.append_only('ext_grd.en');
BEGIN;
ALTER TYPE ext_grd.other RENAME VALUE 'x' TO 'y';
SELECT count(*) AS unrelated_locks FROM pg_locks
 WHERE relation = 'ext_grd.en'::regclass AND pid = pg_backend_pid();
ALTER TYPE ext_grd.lbl RENAME VALUE 'long_label' TO 'a';
SELECT mode FROM pg_locks WHERE relation = 'ext_grd.en'::regclass AND pid = pg_backend_pid()
 ORDER BY mode;
COMMIT;
SELECT event FROM wal2queue.guard_events WHERE relid = 'ext_grd.en'::regclass ORDER BY seq;
ALTER TABLE ext_grd.en DROP COLUMN extra;
SELECT event FROM wal2queue.guard_events WHERE relid = 'ext_grd.en'::regclass ORDER BY seq;
SELECT wal2queue.guard_problem('ext_grd.en') AS en_problem;
-- an attribute dropped from a composite type the table uses
CREATE TYPE ext_grd.pair AS (a text, b text);
CREATE TABLE ext_grd.co (id int, p ext_grd.pair);
SELECT wal2queue.append_only('ext_grd.co');
ALTER TYPE ext_grd.pair DROP ATTRIBUTE b;
SELECT event FROM wal2queue.guard_events WHERE relid = 'ext_grd.co'::regclass ORDER BY seq;
SELECT wal2queue.guard_problem('ext_grd.co') AS co_problem;

SELECT pg_drop_replication_slot('regress_w2q_grd');
SELECT wal2queue.unregister_slot('regress_w2q_grd');
DROP FUNCTION ext_grd_confirm(), ext_grd_counts();
DROP SCHEMA ext_grd CASCADE;
DROP EXTENSION wal2queue;
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'wal2queue%';
DROP SCHEMA wal2queue;
