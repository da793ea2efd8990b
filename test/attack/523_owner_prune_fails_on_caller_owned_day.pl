# What: 514's setup (managed server): "admin" (no superuser, member of
# "app", owns schema s) runs maintain_partitions() of app's job table
# s.jobs; app has only USAGE on s, so since 514's fix each new day stays
# admin's (NOTICE "the partitions created for table s.jobs are owned by
# role admin").  The application, the table's owner, prunes its own table
# (prune() as app, the role docs/extension.md tells to run the
# maintenance of a table as): prune() locks each leaf (LOCK TABLE ONLY
# leaf IN ROW EXCLUSIVE MODE) and app has no privilege at all on admin's
# day: "permission denied for table jobs_p...", an ERROR that aborts the
# whole call, so no row of any partition is pruned, at every run, until
# the day is dropped.  app can no longer ALTER TABLE s.jobs either ("must
# be owner of table jobs_p...").  The NOTICE names the missing CREATE but
# not that the owner is now locked out of its own partitions.
# Why: sql/src/40_job_tables.sql create_partitions() (the day left the
# caller's without giving the owner any privilege on it: no GRANT ... TO
# owner, which the caller, its owner, could make); sql/src/30_prune.sql
# prune() (the LOCK of a leaf outside any exception block).
# Expected: the owner's prune() works on a day created for its table (the
# caller grants the owner the table privileges on it, or creates no day it
# cannot give), or at least skips such a leaf with a WARNING and prunes
# the others; here: prune() as app returns without an ERROR.
# Severity: medium (non-superuser maintenance on a managed server, the
# 514 setup; the table's own pruning stops with an ERROR at every run and
# the table grows; loud).
# Control: W2Q_ATTACK_CONTROL=1 grants app CREATE on s (the days are given
# to app): passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('owner_prune_caller_day');
my $grant = $ENV{W2Q_ATTACK_CONTROL} ? 'GRANT CREATE ON SCHEMA s TO app;' : '';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE ROLE admin LOGIN CREATEROLE;
	GRANT app TO admin;
	CREATE SCHEMA s AUTHORIZATION admin;
	GRANT USAGE ON SCHEMA s TO app;
	$grant
	GRANT USAGE ON SCHEMA wal2queue TO admin, app;
	CREATE TABLE s.jobs (id bigserial, queue text NOT NULL, payload jsonb NOT NULL,
	  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at))
	  PARTITION BY RANGE (created_at);
	ALTER TABLE s.jobs OWNER TO app;
	ALTER SEQUENCE s.jobs_id_seq OWNER TO app;
	SELECT wal2queue.append_only('s.jobs');
});
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=admin',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 2, 7)} ]);
diag("maintain_partitions as admin: $out $err");
like($out, qr/^created s\.jobs_p\d{8}$/m, 'admin creates the coming days');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{INSERT INTO s.jobs (queue, payload) VALUES ('q', '{}')} ]);
is($err, '', 'app inserts a job (into a day admin created)');
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s523', 's.jobs')});

($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT wal2queue.prune('s.jobs', force => true)} ]);
diag("prune as app: $out $err");
unlike($err, qr/ERROR/, "the table's owner prunes its own table without an error");
like($out, qr/^1$/m, 'and the delivered row is deleted');
$node->stop;
done_testing();
