-- wal2queue.prune() and the dropping half of maintain_partitions(): only rows
-- every wal2queue slot of this database has confirmed go away.
CREATE EXTENSION wal2queue;
CREATE SCHEMA ext_prune;
SELECT wal2queue.create_job_table('ext_prune.jobs');

-- Consume SLOT until it has confirmed every transaction that started before
-- the call: decode, log an xl_running_xacts record (CHECKPOINT does in PG 15)
-- and decode again, so that the slot's catalog_xmin moves past them; retried
-- while some unrelated transaction (autovacuum) keeps the horizon back.
-- Returns the number of jobs the slot emitted.
CREATE FUNCTION ext_prune_confirm(slot name) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  horizon xid := xid(pg_snapshot_xmax(pg_current_snapshot()));
  jobs bigint := 0;
BEGIN
  FOR i IN 1..100 LOOP
    jobs := jobs + (SELECT count(*) FROM pg_logical_slot_get_changes(slot, NULL, NULL, 'format', 'json'));
    CHECKPOINT;
    jobs := jobs + (SELECT count(*) FROM pg_logical_slot_get_changes(slot, NULL, NULL, 'format', 'json'));
    EXIT WHEN (SELECT age(catalog_xmin) <= age(horizon) FROM pg_replication_slots WHERE slot_name = slot);
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN jobs;
END $$;

-- no wal2queue slot: nothing is deleted (a NOTICE says why), whatever the
-- other plugins' slots have confirmed
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_td', 'test_decoding');
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_prune_td', NULL, NULL);
CHECKPOINT;
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_prune_td', NULL, NULL);
SELECT wal2queue.prune('ext_prune.jobs');
SELECT pg_drop_replication_slot('regress_w2q_prune_td');
SELECT count(*) FROM ext_prune.jobs;

-- A wal2queue slot.  Rows committed before its creation are below its
-- catalog_xmin from the start: it will never deliver them, so they count as
-- done and go.
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_a', 'wal2queue');
SELECT wal2queue.prune('ext_prune.jobs');

-- new jobs, some from a subtransaction: not confirmed, not deleted; peeking
-- confirms nothing
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 8) i;
BEGIN;
INSERT INTO ext_prune.jobs (queue, payload) VALUES ('q', '"top"');
SAVEPOINT sub;
INSERT INTO ext_prune.jobs (queue, payload) VALUES ('q', '"sub"');
RELEASE SAVEPOINT sub;
COMMIT;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_w2q_prune_a', NULL, NULL, 'format', 'json');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM ext_prune.jobs;

-- once the slot has confirmed them they go, at most BATCH per call
SELECT ext_prune_confirm('regress_w2q_prune_a');
SELECT wal2queue.prune('ext_prune.jobs', 4);
SELECT wal2queue.prune('ext_prune.jobs', batch => 5);
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM ext_prune.jobs;

-- several slots: the one furthest behind decides
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_b', 'wal2queue');
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 5) i;
SELECT ext_prune_confirm('regress_w2q_prune_a');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT ext_prune_confirm('regress_w2q_prune_b');
SELECT wal2queue.prune('ext_prune.jobs');

-- a wal2queue slot of another database does not hold this one back
\set regress_db :DBNAME
CREATE DATABASE regress_w2q_prune_other;
\c regress_w2q_prune_other
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_other', 'wal2queue');
\c :regress_db
INSERT INTO ext_prune.jobs (queue, payload) VALUES ('q', '"other db"');
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT pg_drop_replication_slot('regress_w2q_prune_other');
DROP DATABASE regress_w2q_prune_other;

-- a partitioned job table: rows of different partitions may share a ctid,
-- and a batch still counts exactly
SELECT wal2queue.create_job_table('ext_prune.pjobs', true);
INSERT INTO ext_prune.pjobs (queue, payload, created_at)
SELECT 'q', to_jsonb(i), date_trunc('day', now(), 'UTC') + i * interval '1 day'
  FROM generate_series(0, 2) i;
SELECT count(DISTINCT ctid) AS ctids, count(*) AS rows FROM ext_prune.pjobs;
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
SELECT wal2queue.prune('ext_prune.pjobs', 1);
SELECT count(*) FROM ext_prune.pjobs;
SELECT wal2queue.prune('ext_prune.pjobs');

-- maintain_partitions() drops a partition that ended KEEP_DAYS or more days
-- ago only when every row in it is confirmed; newer ones are never dropped
CREATE TABLE ext_prune.pjobs_old_empty PARTITION OF ext_prune.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') - interval '10 days')
               TO (date_trunc('day', now(), 'UTC') - interval '9 days');
CREATE TABLE ext_prune.pjobs_old_full PARTITION OF ext_prune.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') - interval '9 days')
               TO (date_trunc('day', now(), 'UTC') - interval '8 days');
CREATE TABLE ext_prune.pjobs_recent PARTITION OF ext_prune.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') - interval '3 days')
               TO (date_trunc('day', now(), 'UTC') - interval '2 days');
INSERT INTO ext_prune.pjobs (queue, payload, created_at)
VALUES ('q', '"late"', date_trunc('day', now(), 'UTC') - interval '9 days'),
       ('q', '"recent"', date_trunc('day', now(), 'UTC') - interval '3 days');
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs');
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs', keep_days => 9);
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs');
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs', keep_days => 2);
SELECT count(*) FROM ext_prune.pjobs;

-- without a wal2queue slot nothing is dropped either
SELECT pg_drop_replication_slot('regress_w2q_prune_a');
SELECT pg_drop_replication_slot('regress_w2q_prune_b');
CREATE TABLE ext_prune.pjobs_old PARTITION OF ext_prune.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') - interval '30 days')
               TO (date_trunc('day', now(), 'UTC') - interval '29 days');
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs');

-- bad arguments
SELECT wal2queue.prune(NULL);
SELECT wal2queue.prune('ext_prune.jobs', 0);
SELECT wal2queue.prune('ext_prune.jobs', -5);
SELECT wal2queue.prune('ext_prune.jobs', NULL);
SELECT wal2queue.prune('ext_prune.no_such_table');

DROP FUNCTION ext_prune_confirm(name);
DROP TABLE ext_prune.jobs, ext_prune.pjobs;
DROP SCHEMA ext_prune;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
