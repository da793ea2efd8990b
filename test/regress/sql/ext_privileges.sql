-- Least privilege: the bridge needs LOGIN REPLICATION and no table privilege;
-- an application needs USAGE on the schema to send().  (The replication
-- connection itself and pg_hba.conf cannot be exercised from pg_regress; the
-- SQL-level slot functions check the same REPLICATION attribute.)
CREATE EXTENSION wal2queue;

-- the bridge: LOGIN REPLICATION, not superuser; USAGE + SELECT for the view
CREATE ROLE regress_wal2queue_bridge LOGIN REPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_bridge;
GRANT SELECT ON wal2queue.status TO regress_wal2queue_bridge;
-- an application: USAGE on the schema, nothing else
CREATE ROLE regress_wal2queue_app LOGIN NOREPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_app;
-- the bridge's grants but no REPLICATION
CREATE ROLE regress_wal2queue_norepl LOGIN NOREPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_norepl;
GRANT SELECT ON wal2queue.status TO regress_wal2queue_norepl;
-- no grant at all
CREATE ROLE regress_wal2queue_nobody LOGIN NOREPLICATION NOSUPERUSER;
SELECT rolname, rolsuper, rolreplication, rolcanlogin, rolcreatedb, rolcreaterole
  FROM pg_roles WHERE rolname LIKE 'regress\_wal2queue\_%' ORDER BY rolname;

-- a job table the bridge has no privilege on
CREATE TABLE ext_priv_jobs (id int PRIMARY KEY, queue text);
CREATE FUNCTION ext_priv_mask(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(t, '"lsn":"[0-9A-F]+/[0-9A-F]+","xid":[0-9]+', '"lsn":"L","xid":X')
$$;

-- the bridge creates its slot, checks its plugin in pg_replication_slots
-- (as wal2queue-bridge does), and sees it in wal2queue.status
SET ROLE regress_wal2queue_bridge;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_priv', 'wal2queue');
SELECT slot_type, plugin, database = current_database() AS this_db
  FROM pg_replication_slots WHERE slot_name = 'regress_w2q_priv';
SELECT slot_name, active, lag_bytes >= 0 AS lag_ok FROM wal2queue.status;
RESET ROLE;

-- the application enqueues a job; a row arrives in the table too
SET ROLE regress_wal2queue_app;
SELECT wal2queue.send('emails', 'from the app', 'k1') IS NOT NULL AS sent;
RESET ROLE;
INSERT INTO ext_priv_jobs VALUES (1, 'a row');

-- the bridge decodes both without any privilege on the table
SET ROLE regress_wal2queue_bridge;
SELECT * FROM ext_priv_jobs;
SELECT ext_priv_mask(data)
  FROM pg_logical_slot_peek_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
RESET ROLE;

-- the application can neither decode nor watch the slots
SET ROLE regress_wal2queue_app;
SELECT count(*) FROM wal2queue.status;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_priv_app', 'wal2queue');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
RESET ROLE;

-- without REPLICATION the same grants give the view but no slot
SET ROLE regress_wal2queue_norepl;
SELECT slot_name FROM wal2queue.status;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_priv_norepl', 'wal2queue');
SELECT count(*) FROM pg_logical_slot_get_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
SELECT pg_drop_replication_slot('regress_w2q_priv');
RESET ROLE;

-- without USAGE on the schema nothing in it is reachable
SET ROLE regress_wal2queue_nobody;
SELECT wal2queue.send('emails', 'x');
SELECT count(*) FROM wal2queue.status;
-- but pg_logical_emit_message() is executable by PUBLIC: any role can emit a
-- wal2queue job directly (docs/extension.md, "Who can send")
SELECT pg_logical_emit_message(true, 'wal2queue:emails', 'from nobody') IS NOT NULL AS emitted;
RESET ROLE;
SET ROLE regress_wal2queue_bridge;
SELECT ext_priv_mask(data)
  FROM pg_logical_slot_get_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
RESET ROLE;

-- the server's output_plugin_libraries allow-list: a plugin left out of it
-- cannot be used for a slot, whatever the role
SET output_plugin_libraries = 'pgoutput';
SET ROLE regress_wal2queue_bridge;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_priv_list', 'wal2queue');
RESET ROLE;
RESET output_plugin_libraries;

-- the bridge drops its slot
SET ROLE regress_wal2queue_bridge;
SELECT pg_drop_replication_slot('regress_w2q_priv');
RESET ROLE;
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'regress\_w2q\_priv%';

DROP FUNCTION ext_priv_mask(text);
DROP TABLE ext_priv_jobs;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
DROP ROLE regress_wal2queue_bridge, regress_wal2queue_app,
          regress_wal2queue_norepl, regress_wal2queue_nobody;
