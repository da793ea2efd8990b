-- wal2queue.foreign_code(): which code of a job table would run as the
-- caller of maintain_partitions(), create_partitions() and prune(), and
-- belongs to a role that is neither a superuser nor the caller.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
CREATE ROLE regress_w2q_fc_owner LOGIN NOSUPERUSER;
CREATE SCHEMA ext_fc AUTHORIZATION regress_w2q_fc_owner;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_fc_owner;
\set VERBOSITY default

SET ROLE regress_w2q_fc_owner;
CREATE FUNCTION ext_fc.f(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE FUNCTION ext_fc.eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 = $2 $$;
CREATE OPERATOR ext_fc.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = ext_fc.eq);
CREATE FUNCTION ext_fc.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TABLE ext_fc.t (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
                       created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
CREATE TABLE ext_fc.t_old PARTITION OF ext_fc.t FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
RESET ROLE;

-- nothing of the owner's: no WARNING, false (the caller, a superuser)
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
-- the owner itself may run its own code
SET ROLE regress_w2q_fc_owner;
CREATE INDEX t_expr ON ext_fc.t ((ext_fc.f(queue)));
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
RESET ROLE;

-- each kind of object, one at a time, as the superuser
-- an index expression
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
DROP INDEX ext_fc.t_expr;
-- an index predicate, through an operator
CREATE INDEX t_pred ON ext_fc.t (id) WHERE queue OPERATOR(ext_fc.===) 'x';
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
DROP INDEX ext_fc.t_pred;
-- a CHECK constraint of a partition only
ALTER TABLE ext_fc.t_old ADD CONSTRAINT old_check CHECK (ext_fc.f(queue) <> '');
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
ALTER TABLE ext_fc.t_old DROP CONSTRAINT old_check;
-- a statistics object's expression
CREATE STATISTICS ext_fc.t_stats ON (ext_fc.f(queue)) FROM ext_fc.t_old;
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
DROP STATISTICS ext_fc.t_stats;
-- a column default
ALTER TABLE ext_fc.t ALTER COLUMN queue SET DEFAULT ext_fc.f('q');
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
ALTER TABLE ext_fc.t ALTER COLUMN queue DROP DEFAULT;
-- a partition key expression of a partition that is partitioned itself
CREATE TABLE ext_fc.t_sub PARTITION OF ext_fc.t FOR VALUES FROM ('2020-01-02') TO ('2020-01-03')
    PARTITION BY LIST ((ext_fc.f(queue)));
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
DROP TABLE ext_fc.t_sub;
-- a policy: not for a superuser (no policy applies to it) ...
ALTER TABLE ext_fc.t_old ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON ext_fc.t_old USING (ext_fc.f(queue) IS NOT NULL);
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
-- ... but for a role it applies to (a member of the owner, under FORCE)
CREATE ROLE regress_w2q_fc_admin LOGIN NOSUPERUSER IN ROLE regress_w2q_fc_owner;
GRANT USAGE ON SCHEMA wal2queue TO regress_w2q_fc_admin;
SET ROLE regress_w2q_fc_admin;
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
RESET ROLE;
ALTER TABLE ext_fc.t_old FORCE ROW LEVEL SECURITY;
SET ROLE regress_w2q_fc_admin;
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
RESET ROLE;
DROP POLICY p ON ext_fc.t_old;
ALTER TABLE ext_fc.t_old NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
-- a DELETE trigger and an ON DELETE rule: only for prune() (deleting)
CREATE TRIGGER t_del BEFORE DELETE ON ext_fc.t_old FOR EACH ROW EXECUTE FUNCTION ext_fc.trg();
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
DROP TRIGGER t_del ON ext_fc.t_old;
CREATE TABLE ext_fc.log (q text);
CREATE RULE r_del AS ON DELETE TO ext_fc.t_old DO ALSO INSERT INTO ext_fc.log VALUES (ext_fc.f(OLD.queue));
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
DROP RULE r_del ON ext_fc.t_old;
-- the extension's own functions (the append-only guard) are trusted
SELECT wal2queue.append_only('ext_fc.t');
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
-- a superuser's function is trusted
CREATE FUNCTION public.ext_fc_su(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE INDEX t_su ON ext_fc.t ((public.ext_fc_su(queue)));
SELECT wal2queue.foreign_code('ext_fc.t', 'test', true);
-- several: the first named, the others counted
CREATE INDEX t_expr ON ext_fc.t ((ext_fc.f(queue)));
ALTER TABLE ext_fc.t_old ADD CONSTRAINT old_check CHECK (ext_fc.f(queue) <> '');
SELECT wal2queue.foreign_code('ext_fc.t', 'test', false);

-- the callers skip the table with their own name
SELECT * FROM wal2queue.maintain_partitions('ext_fc.t', 0, 7);
SELECT * FROM wal2queue.create_partitions('ext_fc.t', 0);
SELECT wal2queue.prune('ext_fc.t', force => true);

SET client_min_messages = warning;
DROP SCHEMA ext_fc CASCADE;
RESET client_min_messages;
DROP FUNCTION public.ext_fc_su(text);
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
DROP ROLE regress_w2q_fc_admin, regress_w2q_fc_owner;
