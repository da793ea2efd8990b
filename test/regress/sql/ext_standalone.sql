-- The standalone script (make -C sql standalone, built from the extension
-- script) installed without CREATE EXTENSION, as on a managed server, by a
-- role that is not a superuser: it owns the database and has CREATEROLE
-- (and REPLICATION, as a service's administrator role can be given).
-- test/regress/run.sh builds the file and names it in W2Q_STANDALONE_SQL.
\set regress_db :DBNAME
\set regress_user :USER
CREATE ROLE regress_w2q_admin LOGIN CREATEROLE REPLICATION NOSUPERUSER;
CREATE DATABASE regress_w2q_standalone OWNER regress_w2q_admin;
-- test mechanics only: CHECKPOINT moves the slot's catalog_xmin below
GRANT pg_checkpoint TO regress_w2q_admin;
\c regress_w2q_standalone regress_w2q_admin
SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user;
-- (its WARNING names the file's temporary path: TAP 018 checks it)
\getenv standalone W2Q_STANDALONE_SQL
SET client_min_messages = error;
\set ECHO none
\i :standalone
\set ON_ERROR_STOP off
\set ECHO all
RESET client_min_messages;
-- no extension; every object is the installing role's
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'wal2queue';
SELECT p.oid::regprocedure AS function, p.prosecdef AS definer, r.rolname AS owner
  FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
 WHERE p.pronamespace = 'wal2queue'::regnamespace ORDER BY p.oid::regprocedure::text;
SELECT c.relname, c.relkind, r.rolname AS owner
  FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE c.relnamespace = 'wal2queue'::regnamespace ORDER BY 1;
-- nor create the event triggers that record changes of guards and
-- rewrites (a WARNING says so): append_only() records the guard itself,
-- and a change by hand, recorded nowhere, makes the guard floor unknown
-- (prune() keeps the table's rows) until append_only() is run again
SELECT count(*) AS event_triggers FROM pg_event_trigger WHERE evtname LIKE 'wal2queue%';
CREATE TABLE public.regress_w2q_sa_guard (id int);
SELECT wal2queue.append_only('public.regress_w2q_sa_guard');
SELECT wal2queue.guard_problem('public.regress_w2q_sa_guard') AS after_append_only;
ALTER TABLE public.regress_w2q_sa_guard DISABLE TRIGGER wal2queue_append_only;
ALTER TABLE public.regress_w2q_sa_guard ENABLE ALWAYS TRIGGER wal2queue_append_only;
SELECT wal2queue.guard_problem('public.regress_w2q_sa_guard') AS after_enabled_by_hand;
SELECT wal2queue.append_only('public.regress_w2q_sa_guard');
SELECT wal2queue.guard_problem('public.regress_w2q_sa_guard') AS after_append_only_again;
VACUUM FULL public.regress_w2q_sa_guard;
SELECT wal2queue.guard_problem('public.regress_w2q_sa_guard') AS after_vacuum_full;
DROP TABLE public.regress_w2q_sa_guard;
-- create_partitions() records the guards of the partitions it creates
SELECT wal2queue.create_job_table('public.regress_w2q_sa_parted', true) IS NOT NULL AS created;
SELECT count(*) > 0 AS more FROM wal2queue.create_partitions('public.regress_w2q_sa_parted', 6);
SELECT count(*) AS leaves, count(*) FILTER (WHERE wal2queue.guard_problem(l) IS NOT NULL) AS unknown
  FROM wal2queue.job_leaves('public.regress_w2q_sa_parted') l;
DROP TABLE public.regress_w2q_sa_parted;
-- the role could not revoke pg_logical_emit_message() from PUBLIC (a
-- WARNING says so and gives the SQL for a superuser)
SELECT has_function_privilege('public', 'pg_logical_emit_message(boolean,text,text)', 'EXECUTE') AS public_may_emit;

-- send(): for members of wal2queue_sender
CREATE ROLE regress_w2q_sa_app LOGIN;
GRANT regress_w2q_sa_app TO regress_w2q_admin;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_sa_app;
SET ROLE regress_w2q_sa_app;
SELECT wal2queue.send('emails', 'x');
RESET ROLE;
GRANT wal2queue_sender TO regress_w2q_sa_app;
SET ROLE regress_w2q_sa_app;
SELECT wal2queue.send('emails', '{"to": "a@b.c"}'::jsonb, 'k1') IS NOT NULL AS sent;
SELECT wal2queue.send('', 'x');
RESET ROLE;

-- job tables, a pgoutput slot registered with its publication, status,
-- prune
SELECT wal2queue.create_job_table('public.jobs');
SELECT wal2queue.create_job_table('public.pjobs', true) AS partitioned;
SELECT count(*) AS partitions FROM wal2queue.partitions('public.pjobs');
CREATE PUBLICATION regress_w2q_sa_pub FOR TABLE public.jobs, public.pjobs
  WITH (publish = 'insert', publish_via_partition_root = true);
SELECT wal2queue.create_slot('regress_w2q_sa', 'public.*', 'pgoutput') IS NOT NULL AS created;
SELECT wal2queue.create_slot('regress_w2q_sa', 'public.*', 'pgoutput', 'regress_w2q_sa_pub') IS NOT NULL AS created;
SELECT slot_name, tables, publication FROM wal2queue.slots;
SELECT slot_name, active, lag_bytes >= 0 AS lag FROM wal2queue.status;
INSERT INTO public.jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 5) i;
INSERT INTO public.pjobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, 3) i;
SELECT wal2queue.prune('public.jobs');
DO $$
DECLARE
  horizon xid := xid(pg_snapshot_xmax(pg_current_snapshot()));
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM pg_logical_slot_get_binary_changes('regress_w2q_sa', NULL, NULL,
      'proto_version', '1', 'publication_names', 'regress_w2q_sa_pub');
    CHECKPOINT;
    PERFORM pg_logical_slot_get_binary_changes('regress_w2q_sa', NULL, NULL,
      'proto_version', '1', 'publication_names', 'regress_w2q_sa_pub');
    EXIT WHEN (SELECT age(catalog_xmin) <= age(horizon) FROM pg_replication_slots WHERE slot_name = 'regress_w2q_sa');
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
-- consumed without a bridge: nothing counts as delivered
SELECT wal2queue.prune('public.jobs');
-- what a bridge's attest_slot() records (no walsender here); the role owns
-- the registry, as the superuser owns the extension's
UPDATE wal2queue.slots r
   SET attested_xmin = wal2queue.full_xid(s.catalog_xmin, pg_snapshot_xmax(pg_current_snapshot())),
       attested_lsn = s.confirmed_flush_lsn, attested_at = now()
  FROM pg_replication_slots s WHERE s.slot_name = r.slot_name;
SELECT wal2queue.prune('public.jobs');
SELECT wal2queue.prune('public.pjobs');
SELECT wal2queue.attest_slot('regress_w2q_sa', 1);
SELECT pg_drop_replication_slot('regress_w2q_sa');
SELECT wal2queue.unregister_slot('regress_w2q_sa');

-- uninstall (docs/managed.md)
SET client_min_messages = warning;
DROP SCHEMA wal2queue CASCADE;
RESET client_min_messages;
\c :regress_db :regress_user
DROP DATABASE regress_w2q_standalone;
DROP ROLE regress_w2q_sa_app, regress_w2q_admin;
