-- wal2queue.status: one row per wal2queue slot.
CREATE EXTENSION wal2queue;

-- the view's columns
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'wal2queue.status'::regclass AND attnum > 0 ORDER BY attnum;

-- no wal2queue slot: no row (other plugins' slots are not listed)
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_status_td', 'test_decoding');
SELECT count(*) FROM wal2queue.status;

SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_status_b', 'wal2queue');
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_status_a', 'wal2queue');
SELECT slot_name, active, active_pid, confirmed_flush_lsn IS NOT NULL AS confirmed,
       lag_bytes >= 0 AS lag_ok, retained_bytes >= lag_bytes AS retained_ok,
       wal_status,
       (safe_wal_size IS NULL) = (current_setting('max_slot_wal_keep_size') = '-1') AS safe_wal_size_ok,
       database = current_database() AS this_db
  FROM wal2queue.status ORDER BY slot_name;

-- lag grows with unconfirmed WAL and drops once the slot has consumed it
SELECT lag_bytes AS lag0 FROM wal2queue.status WHERE slot_name = 'regress_w2q_status_a' \gset
SELECT wal2queue.send('status', repeat('x', 10000)) IS NOT NULL AS sent;
SELECT lag_bytes > :lag0 + 10000 AS lag_grew
  FROM wal2queue.status WHERE slot_name = 'regress_w2q_status_a';
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_status_a', NULL, NULL, 'format', 'json');
SELECT lag_bytes < 10000 AS caught_up FROM wal2queue.status WHERE slot_name = 'regress_w2q_status_a';
-- the other slot still holds it back
SELECT lag_bytes > 10000 AS behind, retained_bytes >= lag_bytes AS retained_ok
  FROM wal2queue.status WHERE slot_name = 'regress_w2q_status_b';
SELECT slot_name FROM wal2queue.status WHERE active;

SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
 WHERE slot_name LIKE 'regress\_w2q\_status\_%' ORDER BY slot_name;
SELECT count(*) FROM wal2queue.status;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
