-- prune() and pgoutput slots: a row counts as delivered by a pgoutput slot
-- only if the slot's publication published the inserts of its table, whole
-- and under the table's own name, without a change since the slot was
-- registered (publication_gap()); anything else needs force (test/attack
-- 234, now test/t/234).
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
CREATE SCHEMA ext_pub;
CREATE TABLE ext_pub.jobs (id int PRIMARY KEY, v text);
CREATE TABLE ext_pub.other (id int PRIMARY KEY);
CREATE TABLE ext_pub.parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE ext_pub.parted_1 PARTITION OF ext_pub.parted FOR VALUES FROM (0) TO (100);
SELECT wal2queue.append_only('ext_pub.jobs'), wal2queue.append_only('ext_pub.parted');
CREATE PUBLICATION regress_w2q_pub FOR TABLE ext_pub.jobs, ext_pub.parted
  WITH (publish = 'insert', publish_via_partition_root = true);
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_pub_s', 'pgoutput');
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub');

-- consume the slot past every transaction begun so far (see ext_prune.sql),
-- as a bridge would, and record what its attestation would
CREATE FUNCTION ext_pub_consume() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  horizon xid := xid(pg_snapshot_xmax(pg_current_snapshot()));
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM pg_logical_slot_get_binary_changes('regress_w2q_pub_s', NULL, NULL,
            'proto_version', '1', 'publication_names', 'regress_w2q_pub');
    CHECKPOINT;
    PERFORM pg_logical_slot_get_binary_changes('regress_w2q_pub_s', NULL, NULL,
            'proto_version', '1', 'publication_names', 'regress_w2q_pub');
    EXIT WHEN (SELECT age(catalog_xmin) <= age(horizon) FROM pg_replication_slots
                WHERE slot_name = 'regress_w2q_pub_s');
    PERFORM pg_sleep(0.1);
  END LOOP;
  UPDATE wal2queue.slots r
     SET attested_xmin = wal2queue.full_xid(s.catalog_xmin, pg_snapshot_xmax(pg_current_snapshot())),
         attested_lsn = s.confirmed_flush_lsn, attested_at = now()
    FROM pg_replication_slots s WHERE s.slot_name = r.slot_name;
END $$;
-- the ids of the rows pgoutput sends (without consuming)
CREATE FUNCTION ext_pub_sent() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(convert_from(substring(data FROM length(data) FOR 1), 'UTF8'), ',' ORDER BY lsn), '')
    FROM pg_logical_slot_peek_binary_changes('regress_w2q_pub_s', NULL, NULL,
         'proto_version', '1', 'publication_names', 'regress_w2q_pub')
   WHERE get_byte(data, 0) = 73
$$;

-- publish = 'update' and back: the INSERT in between was never sent, and
-- the slot confirms past it; prune() keeps it (before: deleted)
INSERT INTO ext_pub.jobs VALUES (1, '1');
ALTER PUBLICATION regress_w2q_pub SET (publish = 'update');
INSERT INTO ext_pub.jobs VALUES (2, '2');
ALTER PUBLICATION regress_w2q_pub SET (publish = 'insert');
INSERT INTO ext_pub.jobs VALUES (3, '3');
SELECT ext_pub_sent() AS sent;
SELECT ext_pub_consume();
SELECT wal2queue.prune('ext_pub.jobs');
\set VERBOSITY terse
SELECT wal2queue.prune('ext_pub.parted');
SELECT id FROM ext_pub.jobs ORDER BY id;
-- registered again, the slot delivers from now on: rows 1-3 stay
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub');
INSERT INTO ext_pub.jobs VALUES (4, '4');
SELECT ext_pub_sent() AS sent;
SELECT ext_pub_consume();
SELECT wal2queue.prune('ext_pub.jobs');
SELECT id FROM ext_pub.jobs ORDER BY id;

-- publish_via_partition_root off and on: the partitions' rows went out
-- under their own names meanwhile
ALTER PUBLICATION regress_w2q_pub SET (publish_via_partition_root = false);
INSERT INTO ext_pub.parted VALUES (5);
ALTER PUBLICATION regress_w2q_pub SET (publish_via_partition_root = true);
SELECT ext_pub_consume();
SELECT wal2queue.prune('ext_pub.parted');
SELECT count(*) FROM ext_pub.parted;

-- ALTER PUBLICATION ... SET TABLE and ADD TABLE keep the rows of the tables
-- they keep: no gap; a table taken out and put back has a new row
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub');
ALTER PUBLICATION regress_w2q_pub SET TABLE ext_pub.jobs, ext_pub.parted, ext_pub.other;
ALTER PUBLICATION regress_w2q_pub DROP TABLE ext_pub.other;
SELECT wal2queue.publication_gap(publication, 'ext_pub.jobs', registered_snapshot,
                                 pg_snapshot_xmax(pg_current_snapshot())) IS NULL AS jobs_continuous
  FROM wal2queue.slots;
ALTER PUBLICATION regress_w2q_pub SET TABLE ext_pub.parted;
ALTER PUBLICATION regress_w2q_pub SET TABLE ext_pub.jobs, ext_pub.parted;
SELECT wal2queue.prune('ext_pub.jobs');
SELECT wal2queue.publication_gap(publication, 'ext_pub.parted', registered_snapshot,
                                 pg_snapshot_xmax(pg_current_snapshot())) IS NULL AS parted_continuous
  FROM wal2queue.slots;

-- a publication dropped and created again under the same name
DROP PUBLICATION regress_w2q_pub;
CREATE PUBLICATION regress_w2q_pub FOR TABLE ext_pub.jobs, ext_pub.parted
  WITH (publish = 'insert', publish_via_partition_root = true);
SELECT wal2queue.prune('ext_pub.jobs');
-- renamed away and back, or given to another owner: changed too (fail safe)
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub');
ALTER PUBLICATION regress_w2q_pub RENAME TO regress_w2q_pub_x;
ALTER PUBLICATION regress_w2q_pub_x RENAME TO regress_w2q_pub;
SELECT wal2queue.prune('ext_pub.jobs');

-- what a publication that never changed must publish: inserts, the root of
-- a partitioned table under its own name, no row filter
CREATE PUBLICATION regress_w2q_pub_leaf FOR TABLE ext_pub.parted
  WITH (publish = 'insert', publish_via_partition_root = false);
CREATE PUBLICATION regress_w2q_pub_part FOR TABLE ext_pub.parted_1
  WITH (publish = 'insert', publish_via_partition_root = true);
CREATE PUBLICATION regress_w2q_pub_filter FOR TABLE ext_pub.jobs WHERE (id > 100)
  WITH (publish = 'insert');
CREATE PUBLICATION regress_w2q_pub_upd FOR TABLE ext_pub.jobs WITH (publish = 'update');
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub_leaf');
SELECT wal2queue.prune('ext_pub.parted');
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub_part');
SELECT wal2queue.prune('ext_pub.parted');
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub_filter');
SELECT wal2queue.prune('ext_pub.jobs');
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub_upd');
SELECT wal2queue.prune('ext_pub.jobs');
-- a row filter does not apply where the table's schema is published too
-- (PostgreSQL 15): no gap; and FOR ALL TABLES: none
CREATE PUBLICATION regress_w2q_pub_schema FOR TABLES IN SCHEMA ext_pub WITH (publish = 'insert');
ALTER PUBLICATION regress_w2q_pub_schema ADD TABLE ext_pub.jobs WHERE (id > 100);
CREATE PUBLICATION regress_w2q_pub_all FOR ALL TABLES WITH (publish = 'insert', publish_via_partition_root = true);
SELECT p.pubname, wal2queue.publication_gap(p.pubname, 'ext_pub.jobs', pg_current_snapshot(),
                                            pg_snapshot_xmax(pg_current_snapshot())) AS gap
  FROM pg_publication p WHERE p.pubname IN ('regress_w2q_pub_schema', 'regress_w2q_pub_all') ORDER BY 1;
SELECT wal2queue.register_slot('regress_w2q_pub_s', 'ext_pub.*', 'regress_w2q_pub_all');
SELECT wal2queue.publication_gap(publication, 'ext_pub.parted', registered_snapshot,
                                 pg_snapshot_xmax(pg_current_snapshot())) IS NULL AS all_continuous
  FROM wal2queue.slots;
ALTER PUBLICATION regress_w2q_pub_all SET (publish = 'insert, update');
SELECT wal2queue.prune('ext_pub.parted');
-- bad or missing arguments: a gap, never a pass
SELECT wal2queue.publication_gap('regress_w2q_nope', 'ext_pub.jobs', pg_current_snapshot(), pg_current_xact_id()) AS gap;
SELECT wal2queue.publication_gap('regress_w2q_pub', 'ext_pub.jobs', NULL, pg_current_xact_id()) AS gap;
\set VERBOSITY default

SELECT pg_drop_replication_slot('regress_w2q_pub_s');
SELECT wal2queue.unregister_slot('regress_w2q_pub_s');
DROP PUBLICATION regress_w2q_pub, regress_w2q_pub_leaf, regress_w2q_pub_part, regress_w2q_pub_filter,
  regress_w2q_pub_upd, regress_w2q_pub_schema, regress_w2q_pub_all;
DROP FUNCTION ext_pub_consume(), ext_pub_sent();
DROP TABLE ext_pub.jobs, ext_pub.other, ext_pub.parted;
DROP SCHEMA ext_pub;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
