-- wal2queue.prune() and the dropping half of maintain_partitions(): a row
-- goes only when every registered slot that selects its table has
-- delivered it (delivers_from <= xmin < catalog_xmin); anything the
-- registry cannot vouch for needs force => true.
CREATE EXTENSION wal2queue;
CREATE SCHEMA ext_prune;
SELECT wal2queue.create_job_table('ext_prune.jobs');

-- What a bridge's attest_slot() records while its walsender holds the
-- slot (a regress test has no walsender: test/t/017_prune_attest.pl
-- covers attest_slot() itself).
CREATE FUNCTION ext_prune_attest(slot name) RETURNS void LANGUAGE sql AS $$
  UPDATE wal2queue.slots r
     SET attested_xmin = greatest(r.attested_xmin, wal2queue.full_xid(s.catalog_xmin, pg_snapshot_xmax(pg_current_snapshot()))),
         attested_lsn = greatest(r.attested_lsn, s.confirmed_flush_lsn), attested_at = now()
    FROM pg_replication_slots s
   WHERE s.slot_name = r.slot_name AND r.slot_name = slot AND s.catalog_xmin IS NOT NULL;
$$;

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
  PERFORM ext_prune_attest(slot);
  RETURN jobs;
END $$;

-- full_xid(): 32-bit xids as 64-bit ones around a reference, across epochs;
-- the special xids stay below every real one
SELECT x, r, wal2queue.full_xid(x::xid, r::xid8)
  FROM (VALUES ('999', '1000'), ('1001', '1000'), ('4294967290', '4294967306'),
               ('5', '4294967290'), ('2', '8589934600'), ('10', '8589934600')) v(x, r);

-- tables patterns, as the plugin's tables option: schema and table part
-- each matched against the name, * any run of characters within a name
SELECT p, n, t, wal2queue.tables_select(p, n, t)
  FROM (VALUES (NULL, 'a', 'b'), ('*', 'a', 'b'), ('a.b', 'a', 'b'), ('a.b', 'a', 'bc'),
               (' x.y , a.* ', 'a', 'jobs'), ('*.jobs', 'a', 'jobs'), ('*.jobs', 'a.b', 'jobs'),
               ('a.*', 'a.b', 'jobs'), ('a.j(1)+', 'a', 'j(1)+'), ('a.j*s', 'a', 'jx.s'),
               ('a.j_', 'a', 'jx'), ('a.J', 'a', 'j')) v(p, n, t);

-- no registered slot: nothing is deleted (an error says why, force =>
-- true only finds no wal2queue slot), whatever other plugins' slots did
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_td', 'test_decoding');
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_prune_td', NULL, NULL);
CHECKPOINT;
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_prune_td', NULL, NULL);
SELECT wal2queue.prune('ext_prune.jobs', force => true);
SELECT pg_drop_replication_slot('regress_w2q_prune_td');
SELECT count(*) FROM ext_prune.jobs;

-- A registered slot.  Rows committed before it was registered were never
-- delivered by it: they stay, however far it gets, until force => true.
SELECT wal2queue.create_slot('regress_w2q_prune_a', 'ext_prune.*') IS NOT NULL AS created;
SELECT slot_name, tables,
       wal2queue.full_xid(xmin, delivers_from) >= delivers_from AS horizon_before_registration,
       (SELECT count(*) FROM ext_prune.jobs j
         WHERE wal2queue.full_xid(j.xmin, delivers_from) >= delivers_from) AS rows_after_horizon
  FROM wal2queue.slots;
SELECT ext_prune_confirm('regress_w2q_prune_a');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM ext_prune.jobs;

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

-- once the slot has confirmed them they go, at most BATCH per call; the
-- three older than the slot stay
SELECT ext_prune_confirm('regress_w2q_prune_a');
SELECT wal2queue.prune('ext_prune.jobs', 4);
SELECT wal2queue.prune('ext_prune.jobs', batch => 5);
SELECT wal2queue.prune('ext_prune.jobs');
SELECT payload FROM ext_prune.jobs ORDER BY id;
-- force => true: only "every wal2queue slot moved past it" counts
SELECT wal2queue.prune('ext_prune.jobs', force => true);
SELECT count(*) FROM ext_prune.jobs;

-- several slots that select the table: the one furthest behind decides; a
-- slot that selects other tables holds it back too (it may have selected
-- the rows under an earlier name of the table) until it confirms them
SELECT wal2queue.create_slot('regress_w2q_prune_b', 'ext_prune.jobs, other.x') IS NOT NULL AS created;
SELECT wal2queue.create_slot('regress_w2q_prune_c', 'other.*') IS NOT NULL AS created;
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 5) i;
SELECT ext_prune_confirm('regress_w2q_prune_a');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT ext_prune_confirm('regress_w2q_prune_b');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT ext_prune_confirm('regress_w2q_prune_c');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT pg_drop_replication_slot('regress_w2q_prune_c');
SELECT wal2queue.unregister_slot('regress_w2q_prune_c');

-- the issue's case: the slot is dropped and re-created while jobs wait.  The
-- new slot's catalog_xmin passes the waiting rows at once, but it never
-- delivers them: nothing is deleted without force.
INSERT INTO ext_prune.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 4) i;
SELECT pg_drop_replication_slot('regress_w2q_prune_b');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT wal2queue.unregister_slot('regress_w2q_prune_b');
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_b', 'wal2queue');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT wal2queue.register_slot('regress_w2q_prune_b', 'ext_prune.jobs');
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT count(*) FROM ext_prune.jobs;
SELECT wal2queue.prune('ext_prune.jobs', force => true);

-- a wal2queue slot of another database neither holds this one back nor
-- needs registering here
\set regress_db :DBNAME
CREATE DATABASE regress_w2q_prune_other;
\c regress_w2q_prune_other
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_other', 'wal2queue');
\c :regress_db
SELECT wal2queue.register_slot('regress_w2q_prune_other');
INSERT INTO ext_prune.jobs (queue, payload) VALUES ('q', '"other db"');
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
SELECT wal2queue.prune('ext_prune.jobs');
SELECT pg_drop_replication_slot('regress_w2q_prune_other');
DROP DATABASE regress_w2q_prune_other;

-- a partitioned job table, matched by its root's name: rows of different
-- partitions may share a ctid, and a batch still counts exactly
SELECT wal2queue.create_job_table('ext_prune.pjobs', true);
INSERT INTO ext_prune.pjobs (queue, payload, created_at)
SELECT 'q', to_jsonb(i), date_trunc('day', now(), 'UTC') + i * interval '1 day'
  FROM generate_series(0, 2) i;
SELECT count(DISTINCT ctid) AS ctids, count(*) AS rows FROM ext_prune.pjobs;
SELECT ext_prune_confirm('regress_w2q_prune_a') + ext_prune_confirm('regress_w2q_prune_b') AS jobs;
-- slot b does not select it, slot a does
SELECT wal2queue.prune('ext_prune.pjobs', 1);
SELECT count(*) FROM ext_prune.pjobs;
SELECT wal2queue.prune('ext_prune.pjobs');

-- maintain_partitions() drops a partition that ended KEEP_DAYS or more days
-- ago only when every row in it is delivered; newer ones are never dropped
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

-- a registered slot that is gone: nothing is dropped (a WARNING says why,
-- new partitions are still created), prune() refuses
SELECT pg_drop_replication_slot('regress_w2q_prune_a');
CREATE TABLE ext_prune.pjobs_old PARTITION OF ext_prune.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') - interval '30 days')
               TO (date_trunc('day', now(), 'UTC') - interval '29 days');
SELECT action, regexp_replace(partition_name, '\d{8}$', 'YYYYMMDD')
  FROM wal2queue.maintain_partitions('ext_prune.pjobs', days_ahead => 4);
SELECT wal2queue.prune('ext_prune.pjobs');
SELECT wal2queue.unregister_slot('regress_w2q_prune_a');
-- a wal2queue slot that is not registered: the same
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_a', 'wal2queue');
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs');
SELECT wal2queue.prune('ext_prune.jobs');
SELECT * FROM wal2queue.prune_horizon('ext_prune.jobs', fatal => false);
-- with force the empty old partition goes
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs', force => true);
SELECT pg_drop_replication_slot('regress_w2q_prune_a');
SELECT pg_drop_replication_slot('regress_w2q_prune_b');
SELECT wal2queue.unregister_slot('regress_w2q_prune_b');

-- register_slot() and create_slot(): bad arguments, unknown and unfit slots
SELECT wal2queue.register_slot(NULL);
SELECT wal2queue.register_slot('regress_w2q_no_such_slot');
SELECT 'init' FROM pg_create_physical_replication_slot('regress_w2q_prune_phys');
SELECT wal2queue.register_slot('regress_w2q_prune_phys');
SELECT pg_drop_replication_slot('regress_w2q_prune_phys');
SELECT wal2queue.create_slot('regress_w2q_prune_x', 'jobs');
SELECT wal2queue.create_slot('regress_w2q_prune_x', 'a.b,,c.d');
SELECT wal2queue.create_slot('regress_w2q_prune_x', '"Public".jobs');
SELECT wal2queue.create_slot('regress_w2q_prune_x', 'a.b.c');
SELECT wal2queue.create_slot('regress_w2q_prune_x', 'a.b, .c');
SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'regress_w2q_prune_x';
-- unregistering an unknown slot does nothing
SELECT wal2queue.unregister_slot('regress_w2q_no_such_slot');
SELECT count(*) FROM wal2queue.slots;

-- bad arguments
SELECT wal2queue.prune(NULL);
SELECT wal2queue.prune('ext_prune.jobs', 0);
SELECT wal2queue.prune('ext_prune.jobs', -5);
SELECT wal2queue.prune('ext_prune.jobs', NULL);
SELECT wal2queue.prune('ext_prune.jobs', 1, NULL);
SELECT wal2queue.prune('ext_prune.no_such_table');
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs', force => NULL);

-- claim checks (prune_horizon(), point 7): a registration's max_job_bytes is
-- the plugin's range, and the claim-check floor follows the smallest one
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs', NULL, 100);
SELECT wal2queue.claim_check_floor('ext_prune.jobs') AS floor_without_wal2queue_slot;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_prune_cc', 'wal2queue');
SELECT wal2queue.claim_check_floor('ext_prune.jobs') AS floor_unregistered;
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs');
SELECT wal2queue.claim_check_floor('ext_prune.jobs') AS floor_64mb_default;
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs', NULL, 4096);
SELECT wal2queue.claim_check_floor('ext_prune.jobs') AS floor_4kb;
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs', NULL, 1024);
SELECT wal2queue.claim_check_floor('ext_prune.jobs') AS floor_1kb;
-- registered again without a size, or with a larger one: the smaller stays
-- (a bridge may still read the slot with it)
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs');
SELECT max_job_bytes AS kept_without_size FROM wal2queue.slots WHERE slot_name = 'regress_w2q_prune_cc';
SELECT wal2queue.register_slot('regress_w2q_prune_cc', 'ext_prune.jobs', NULL, 8192);
SELECT max_job_bytes AS kept_with_larger FROM wal2queue.slots WHERE slot_name = 'regress_w2q_prune_cc';
-- a session read with a smaller max-job-bytes lowers it, never raises it
SELECT wal2queue.lower_max_job_bytes('regress_w2q_prune_cc', 2048);
SELECT wal2queue.lower_max_job_bytes('regress_w2q_prune_cc', 8192);
SELECT wal2queue.lower_max_job_bytes('regress_w2q_prune_cc', 100);
SELECT wal2queue.lower_max_job_bytes('regress_w2q_no_such_slot', 4096) AS unknown_slot;
SELECT wal2queue.unregister_slot('regress_w2q_prune_cc');
SELECT pg_drop_replication_slot('regress_w2q_prune_cc');

-- prune() and maintain_partitions() refuse a snapshot isolation level: its
-- snapshot may predate a catalog change or a row the lock waited for
-- (test/t/383, 384)
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT wal2queue.prune('ext_prune.jobs');
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM wal2queue.maintain_partitions('ext_prune.pjobs');
ROLLBACK;

DROP FUNCTION ext_prune_confirm(name), ext_prune_attest(name);
DROP TABLE ext_prune.jobs, ext_prune.pjobs;
DROP SCHEMA ext_prune;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
