-- Least privilege: the bridge needs LOGIN REPLICATION and no table privilege;
-- an application needs USAGE on the schema and membership of
-- wal2queue_sender to send().  (The replication connection itself and
-- pg_hba.conf cannot be exercised from pg_regress; the SQL-level slot
-- functions check the same REPLICATION attribute.)

-- CREATE EXTENSION takes pg_logical_emit_message() away from PUBLIC in this
-- database and gives it to the role wal2queue_sender, with a WARNING when it
-- changes something; send() is for wal2queue_sender only
GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                          pg_logical_emit_message(boolean, text, bytea) TO PUBLIC;
CREATE EXTENSION wal2queue;
SELECT p.oid::regprocedure,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('wal2queue_sender', p.oid, 'EXECUTE') AS sender
  FROM pg_proc p
 WHERE p.proname = 'pg_logical_emit_message' OR p.oid::regprocedure::text LIKE 'wal2queue.send(%'
 ORDER BY p.oid::regprocedure::text;
SELECT rolcanlogin, rolsuper, rolreplication FROM pg_roles WHERE rolname = 'wal2queue_sender';
-- no WARNING when there is nothing to change
DROP EXTENSION wal2queue;
CREATE EXTENSION wal2queue;

-- the bridge: LOGIN REPLICATION, not superuser; USAGE + SELECT for the view
CREATE ROLE regress_wal2queue_bridge LOGIN REPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_bridge;
GRANT SELECT ON wal2queue.status TO regress_wal2queue_bridge;
-- an application: USAGE on the schema, a member of wal2queue_sender
CREATE ROLE regress_wal2queue_app LOGIN NOREPLICATION NOSUPERUSER;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_app;
GRANT wal2queue_sender TO regress_wal2queue_app;
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

-- the bridge registers its slot (register_slot() checks the session's login
-- role, so switch the session, not just the role)
SET SESSION AUTHORIZATION regress_wal2queue_bridge;
SELECT wal2queue.register_slot('regress_w2q_priv', 'public.ext_priv_jobs');
SELECT slot_name, tables FROM wal2queue.slots;
-- (the registration is a row of wal2queue.slots, which a slot without a
-- tables option decodes: skip it)
SELECT count(*) FILTER (WHERE data NOT LIKE '{"target":"wal2queue.slots"%') AS other_jobs
  FROM pg_logical_slot_get_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
RESET SESSION AUTHORIZATION;
-- a role without REPLICATION can neither widen a slot's tables (which would
-- let prune() delete rows the slot never delivers) nor drop the registration
SET SESSION AUTHORIZATION regress_wal2queue_app;
SELECT wal2queue.register_slot('regress_w2q_priv', NULL);
SELECT wal2queue.unregister_slot('regress_w2q_priv');
UPDATE wal2queue.slots SET tables = NULL;
DELETE FROM wal2queue.slots;
INSERT INTO wal2queue.slots VALUES ('regress_w2q_priv', '1', NULL);
SELECT slot_name, tables FROM wal2queue.slots;
RESET SESSION AUTHORIZATION;
-- a member of a role named rds_replication may (Amazon RDS and Aurora grant
-- the replication right through it, not the attribute): docs/managed.md
CREATE ROLE rds_replication NOLOGIN REPLICATION;
CREATE ROLE regress_wal2queue_rds LOGIN NOREPLICATION NOSUPERUSER IN ROLE rds_replication;
GRANT USAGE ON SCHEMA wal2queue TO regress_wal2queue_rds;
SET SESSION AUTHORIZATION regress_wal2queue_rds;
SELECT wal2queue.lower_max_job_bytes('regress_w2q_priv', 67108864) AS rds_member_may;
RESET SESSION AUTHORIZATION;
REVOKE rds_replication FROM regress_wal2queue_rds;
SET SESSION AUTHORIZATION regress_wal2queue_rds;
\set VERBOSITY terse
SELECT wal2queue.lower_max_job_bytes('regress_w2q_priv', 67108864) AS not_a_member;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
REVOKE USAGE ON SCHEMA wal2queue FROM regress_wal2queue_rds;
DROP ROLE regress_wal2queue_rds, rds_replication;

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

-- USAGE on the schema without wal2queue_sender: no send()
SET ROLE regress_wal2queue_norepl;
SELECT wal2queue.send('emails', 'x');
SELECT wal2queue.send('emails', '{}'::jsonb);
RESET ROLE;

-- without USAGE on the schema nothing in it is reachable
SET ROLE regress_wal2queue_nobody;
SELECT wal2queue.send('emails', 'x');
SELECT count(*) FROM wal2queue.status;
-- and a role that can only log in cannot forge a job by emitting a
-- wal2queue message itself (docs/extension.md, "Who can send")
SELECT pg_logical_emit_message(true, 'wal2queue:emails', 'from nobody') IS NOT NULL AS emitted;
SELECT pg_logical_emit_message(true, 'wal2queue:emails', '\x00'::bytea) IS NOT NULL AS emitted;
RESET ROLE;
-- a member of wal2queue_sender can, directly as well
SET ROLE regress_wal2queue_app;
SELECT pg_logical_emit_message(true, 'wal2queue:emails', 'from a sender') IS NOT NULL AS emitted;
RESET ROLE;
SET ROLE regress_wal2queue_bridge;
SELECT ext_priv_mask(data)
  FROM pg_logical_slot_get_changes('regress_w2q_priv', NULL, NULL, 'format', 'json');
RESET ROLE;

-- send() runs as its owner, but a caller's search_path cannot make it run
-- the caller's operators: every operator in it is pg_catalog's
CREATE SCHEMA regress_w2q_evil AUTHORIZATION regress_wal2queue_app;
SET ROLE regress_wal2queue_app;
CREATE FUNCTION regress_w2q_evil.hijack(a text, b text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'hijacked as %', current_user;
  RETURN false;
END $$;
CREATE FUNCTION regress_w2q_evil.hijack_cat(a text, b text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'hijacked as %', current_user;
  RETURN a;
END $$;
CREATE OPERATOR regress_w2q_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_w2q_evil.hijack);
CREATE OPERATOR regress_w2q_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_w2q_evil.hijack_cat);
SET search_path = regress_w2q_evil, pg_catalog;
SELECT 'a' = 'a' AS would_be_hijacked;
SELECT wal2queue.send('emails', 'path', 'k') IS NOT NULL AS sent;
SELECT wal2queue.send('emails', '{"path": 1}'::jsonb, 'k') IS NOT NULL AS sent;
RESET search_path;
RESET ROLE;
DROP SCHEMA regress_w2q_evil CASCADE;
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

-- the bridge drops its slot and unregisters it
SET SESSION AUTHORIZATION regress_wal2queue_bridge;
SELECT pg_drop_replication_slot('regress_w2q_priv');
SELECT wal2queue.unregister_slot('regress_w2q_priv');
RESET SESSION AUTHORIZATION;
SELECT count(*) FROM wal2queue.slots;
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'regress\_w2q\_priv%';

DROP FUNCTION ext_priv_mask(text);
DROP TABLE ext_priv_jobs;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;

-- CREATE EXTENSION refuses a schema wal2queue that another role could use to
-- put its own functions under the extension's (owned by it, writable by it,
-- or holding its functions or operators)
CREATE SCHEMA wal2queue AUTHORIZATION regress_wal2queue_nobody;
CREATE EXTENSION wal2queue;
ALTER SCHEMA wal2queue OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA wal2queue TO regress_wal2queue_nobody;
CREATE EXTENSION wal2queue;
GRANT CREATE ON SCHEMA wal2queue TO PUBLIC;
REVOKE CREATE ON SCHEMA wal2queue FROM regress_wal2queue_nobody;
CREATE EXTENSION wal2queue;
GRANT CREATE ON SCHEMA wal2queue TO regress_wal2queue_nobody;
REVOKE CREATE ON SCHEMA wal2queue FROM PUBLIC;
SET ROLE regress_wal2queue_nobody;
CREATE FUNCTION wal2queue.full_xid(x xid, reference text) RETURNS xid8
LANGUAGE sql AS $$ SELECT '0'::xid8 $$;
RESET ROLE;
REVOKE CREATE ON SCHEMA wal2queue FROM regress_wal2queue_nobody;
CREATE EXTENSION wal2queue;
DROP FUNCTION wal2queue.full_xid(xid, text);
-- a schema of our own with the default privileges is fine
CREATE EXTENSION wal2queue;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;

DROP ROLE regress_wal2queue_bridge, regress_wal2queue_app,
          regress_wal2queue_norepl, regress_wal2queue_nobody;
