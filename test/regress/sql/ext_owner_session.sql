-- wal2queue.owner_session(): maintain_partitions(), create_partitions()
-- and prune() act on a job table only when its owner is a superuser or
-- the session is the owner's own (current_user, session_user and the login
-- role); a partition also needs its owner's rights; a relation that is
-- not a table is refused.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
CREATE ROLE regress_w2q_os_owner LOGIN NOSUPERUSER;
CREATE ROLE regress_w2q_os_admin LOGIN NOSUPERUSER IN ROLE regress_w2q_os_owner;
CREATE ROLE regress_w2q_os_other LOGIN NOSUPERUSER;
CREATE SCHEMA ext_os AUTHORIZATION regress_w2q_os_owner;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_os_owner, regress_w2q_os_admin, regress_w2q_os_other;
GRANT USAGE, CREATE ON SCHEMA ext_os TO regress_w2q_os_other;
\set VERBOSITY default

SET ROLE regress_w2q_os_owner;
CREATE TABLE ext_os.t (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
                       created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
CREATE TABLE ext_os.t_old PARTITION OF ext_os.t FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
CREATE VIEW ext_os.v AS SELECT t.ctid AS ctid, t.xmin AS xmin, t.* FROM ext_os.t t;
RESET ROLE;
CREATE TABLE ext_os.su (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
                        created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);

-- a superuser's table: true, no WARNING
SELECT wal2queue.owner_session('ext_os.su', 'test');
-- another role's table, the caller a superuser: false, with a WARNING
SELECT wal2queue.owner_session('ext_os.t', 'test');
-- SET ROLE to the owner, or to a member of it, is no session of the owner
SET ROLE regress_w2q_os_owner;
SELECT wal2queue.owner_session('ext_os.t', 'test');
SET ROLE regress_w2q_os_admin;
SELECT wal2queue.owner_session('ext_os.t', 'test');
RESET ROLE;
-- nor is SET SESSION AUTHORIZATION (the login role stays the superuser)
SET SESSION AUTHORIZATION regress_w2q_os_owner;
SELECT wal2queue.owner_session('ext_os.t', 'test');
RESET SESSION AUTHORIZATION;
-- not a table: an ERROR naming it
SELECT wal2queue.owner_session('ext_os.v', 'test');
CREATE SEQUENCE ext_os.seq;
SELECT wal2queue.owner_session('ext_os.seq', 'test');
SELECT wal2queue.prune('ext_os.v', force => true);
SELECT * FROM wal2queue.create_partitions('ext_os.v', 0);
-- the callers skip the table with their own name
SELECT * FROM wal2queue.maintain_partitions('ext_os.t', 0, 7);
SELECT * FROM wal2queue.create_partitions('ext_os.t', 0);
SELECT wal2queue.prune('ext_os.t', force => true);

-- a session of the owner: its own table, and its own partition
\c - regress_w2q_os_owner
SELECT session_user, current_user;
\set VERBOSITY default
SELECT wal2queue.owner_session('ext_os.t', 'test');
SELECT wal2queue.owner_session('ext_os.t_old', 'test', 'ext_os.t');
-- a partition another role created (another owner): skipped (the helper
-- reads only the owner: the table need not be attached here)
\c - regress_w2q_os_other
SELECT session_user, current_user;
CREATE TABLE ext_os.t_other (id bigint);
\c - regress_w2q_os_owner
\set VERBOSITY default
SELECT wal2queue.owner_session('ext_os.t_other', 'test', 'ext_os.t');
-- a partition of a superuser's: the owner has not its rights: skipped
\c - postgres
ALTER TABLE ext_os.t_other OWNER TO CURRENT_USER;
\c - regress_w2q_os_owner
\set VERBOSITY default
SELECT wal2queue.owner_session('ext_os.t_other', 'test', 'ext_os.t') AS superuser_partition;
\c - postgres

SET client_min_messages = warning;
DROP SCHEMA ext_os CASCADE;
RESET client_min_messages;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
DROP ROLE regress_w2q_os_admin, regress_w2q_os_owner, regress_w2q_os_other;
