-- attest_slot(), mark_backfilled() and pgoutput slots registered with their
-- publication: what prune() counts as delivered for each.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
CREATE SCHEMA ext_att;
SELECT wal2queue.create_job_table('ext_att.jobs');
CREATE ROLE regress_w2q_att_app LOGIN NOREPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_att_app;

-- consume SLOT past every transaction begun so far (see ext_prune.sql)
CREATE FUNCTION ext_att_consume(slot name, plugin_args text[] DEFAULT '{}') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  horizon xid := xid(pg_snapshot_xmax(pg_current_snapshot()));
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC plugin_args);
    CHECKPOINT;
    PERFORM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC plugin_args);
    EXIT WHEN (SELECT age(catalog_xmin) <= age(horizon) FROM pg_replication_slots WHERE slot_name = slot);
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
-- what a bridge's attestation records (no walsender in pg_regress)
CREATE FUNCTION ext_att_attest(slot name) RETURNS void LANGUAGE sql AS $$
  UPDATE wal2queue.slots r
     SET attested_xmin = wal2queue.full_xid(s.catalog_xmin, pg_snapshot_xmax(pg_current_snapshot())),
         attested_lsn = s.confirmed_flush_lsn, attested_at = now()
    FROM pg_replication_slots s WHERE s.slot_name = r.slot_name AND r.slot_name = slot;
$$;

-- a registered slot consumed without a bridge: its catalog_xmin moves, but
-- nothing counts as delivered until a bridge attested it; then only up to
-- the attested point, however far the slot was consumed by hand since
SELECT 'init' FROM wal2queue.create_slot('regress_w2q_att', 'ext_att.jobs');
SELECT attested_xmin IS NULL AS unattested, start_lsn = (SELECT confirmed_flush_lsn FROM pg_replication_slots
                                                         WHERE slot_name = 'regress_w2q_att') AS start_lsn_recorded
  FROM wal2queue.slots;
INSERT INTO ext_att.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
SELECT ext_att_consume('regress_w2q_att');
SELECT wal2queue.prune('ext_att.jobs');
SELECT ext_att_attest('regress_w2q_att');
SELECT wal2queue.prune('ext_att.jobs');
INSERT INTO ext_att.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(4, 6) i;
SELECT ext_att_consume('regress_w2q_att');
SELECT pg_replication_slot_advance('regress_w2q_att', pg_current_wal_lsn()) IS NOT NULL AS advanced;
SELECT wal2queue.prune('ext_att.jobs');
SELECT count(*) FROM ext_att.jobs;
-- a refused attestation stops prune for the slot, with the reason
UPDATE wal2queue.slots SET attest_refused = 'a bridge session began at 0/1 without a record in its sink';
SELECT wal2queue.prune('ext_att.jobs');
SELECT * FROM wal2queue.prune_horizon('ext_att.jobs', fatal => false);
-- registering again starts over: fresh horizon, no attestation, no refusal
SELECT wal2queue.register_slot('regress_w2q_att', 'ext_att.jobs');
SELECT attested_xmin IS NULL AND attest_refused IS NULL AS reset FROM wal2queue.slots;

-- attest_slot(): bad arguments, unknown slots, a slot no walsender holds,
-- a role without REPLICATION
SELECT wal2queue.attest_slot(NULL, 1);
SELECT wal2queue.attest_slot('regress_w2q_att', NULL);
SELECT wal2queue.attest_slot('regress_w2q_att_none', 1);
SELECT wal2queue.attest_slot('regress_w2q_att', 1);
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_att_unreg', 'wal2queue');
SELECT wal2queue.attest_slot('regress_w2q_att_unreg', pg_backend_pid());
SELECT pg_drop_replication_slot('regress_w2q_att_unreg');
SET SESSION AUTHORIZATION regress_w2q_att_app;
SELECT wal2queue.attest_slot('regress_w2q_att', pg_backend_pid());
SELECT wal2queue.mark_backfilled('regress_w2q_att', '0/0');
RESET SESSION AUTHORIZATION;

-- mark_backfilled(): rows older than the slot count as delivered
SELECT wal2queue.mark_backfilled(NULL, '0/0');
SELECT wal2queue.mark_backfilled('regress_w2q_att', NULL);
SELECT wal2queue.mark_backfilled('regress_w2q_att_none', '0/0');
-- only for the slot registered at the backfill's consistent point (the 1-argument form is gone)
SELECT wal2queue.mark_backfilled('regress_w2q_att');
DO $$
BEGIN
    PERFORM wal2queue.mark_backfilled('regress_w2q_att', '0/1');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'refused: %', regexp_replace(SQLERRM, 'at [0-9A-F]+/[0-9A-F]+,', 'at X/X,');
END
$$;
SELECT delivers_from <> '0' AS not_marked, backfilled_at IS NULL AS not_backfilled FROM wal2queue.slots;
SELECT ext_att_consume('regress_w2q_att');
SELECT ext_att_attest('regress_w2q_att');
SELECT wal2queue.prune('ext_att.jobs');
SELECT wal2queue.mark_backfilled('regress_w2q_att', start_lsn) FROM wal2queue.slots WHERE slot_name = 'regress_w2q_att';
SELECT delivers_from = '0' AS from_zero, backfilled_at IS NOT NULL AS backfilled FROM wal2queue.slots;
SELECT wal2queue.prune('ext_att.jobs');
SELECT count(*) FROM ext_att.jobs;
SELECT pg_drop_replication_slot('regress_w2q_att');
SELECT wal2queue.unregister_slot('regress_w2q_att');

-- pgoutput slots: registered with their publication, they select what it
-- publishes (partitions by their root); a wal2queue slot takes none
CREATE TABLE ext_att.pub_jobs (id int PRIMARY KEY);
CREATE TABLE ext_att.parted (id int, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE ext_att.parted_1 PARTITION OF ext_att.parted FOR VALUES FROM (0) TO (100);
SELECT wal2queue.append_only('ext_att.pub_jobs'), wal2queue.append_only('ext_att.parted');
CREATE PUBLICATION regress_w2q_att_pub FOR TABLE ext_att.pub_jobs, ext_att.parted
  WITH (publish = 'insert', publish_via_partition_root = true);
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_att_pgo', 'pgoutput');
SELECT wal2queue.register_slot('regress_w2q_att_pgo', NULL);
SELECT wal2queue.register_slot('regress_w2q_att_pgo', NULL, 'regress_w2q_att_none');
SELECT wal2queue.create_slot('regress_w2q_att_w2q', NULL, 'wal2queue', 'regress_w2q_att_pub');
SELECT wal2queue.create_slot('regress_w2q_att_w2q', NULL, 'pgoutput');
SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'regress_w2q_att_w2q';
SELECT wal2queue.register_slot('regress_w2q_att_pgo', 'ext_att.*', 'regress_w2q_att_pub');
SELECT slot_name, tables, publication FROM wal2queue.slots;
SELECT t, wal2queue.slot_selects(r.tables, r.publication, t)
  FROM wal2queue.slots r,
       unnest(ARRAY['ext_att.pub_jobs', 'ext_att.parted', 'ext_att.parted_1', 'ext_att.jobs']::regclass[]) t;
INSERT INTO ext_att.pub_jobs SELECT generate_series(1, 4);
INSERT INTO ext_att.parted SELECT generate_series(1, 5);
SELECT ext_att_consume('regress_w2q_att_pgo',
                       ARRAY['proto_version', '1', 'publication_names', 'regress_w2q_att_pub']);
SELECT ext_att_attest('regress_w2q_att_pgo');
SELECT wal2queue.prune('ext_att.pub_jobs');
SELECT wal2queue.prune('ext_att.parted_1');
-- a table the publication does not publish: no slot selects it
SELECT wal2queue.prune('ext_att.jobs');
-- published after the slot was registered: the slot did not send its
-- earlier rows, so prune refuses until the slot is registered again
INSERT INTO ext_att.jobs (queue, payload) VALUES ('q', '"before"');
ALTER PUBLICATION regress_w2q_att_pub ADD TABLE ext_att.jobs;
SELECT wal2queue.prune('ext_att.jobs');
SELECT wal2queue.register_slot('regress_w2q_att_pgo', 'ext_att.*', 'regress_w2q_att_pub');
SELECT ext_att_consume('regress_w2q_att_pgo',
                       ARRAY['proto_version', '1', 'publication_names', 'regress_w2q_att_pub']);
SELECT ext_att_attest('regress_w2q_att_pgo');
SELECT wal2queue.prune('ext_att.jobs');
SELECT count(*) FROM ext_att.jobs;
SELECT pg_drop_replication_slot('regress_w2q_att_pgo');
SELECT wal2queue.unregister_slot('regress_w2q_att_pgo');

DROP PUBLICATION regress_w2q_att_pub;
DROP FUNCTION ext_att_consume(name, text[]), ext_att_attest(name);
DROP TABLE ext_att.jobs, ext_att.pub_jobs, ext_att.parted;
DROP SCHEMA ext_att;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
DROP ROLE regress_w2q_att_app;
