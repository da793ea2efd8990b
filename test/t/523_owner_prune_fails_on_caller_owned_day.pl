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
# Control: W2Q_ATTACK_CONTROL=1 has app, not admin, create the older
# day: everything is pruned, the day dropped.
# Fixed: maintain_partitions() acts on a table whose owner is no
# superuser only in a session of that owner (wal2queue.owner_session()):
# admin's run is skipped with a WARNING and creates no day; app's own run
# creates the days, owned by app.  A day another role created before (here
# by hand, as admin; as 514's fix did) no longer fails the owner's runs:
# prune() skips that leaf and maintain_partitions() keeps it, each with a
# WARNING naming it and its owner, and the other leaves are pruned.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('owner_prune_caller_day');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE ROLE admin LOGIN CREATEROLE;
	GRANT app TO admin;
	CREATE SCHEMA s AUTHORIZATION admin;
	GRANT USAGE, CREATE ON SCHEMA s TO app;
	GRANT USAGE ON SCHEMA wal2queue TO admin, app;
	CREATE TABLE s.jobs (id bigserial, queue text NOT NULL, payload jsonb NOT NULL,
	  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at))
	  PARTITION BY RANGE (created_at);
	ALTER TABLE s.jobs OWNER TO app;
	ALTER SEQUENCE s.jobs_id_seq OWNER TO app;
	SELECT wal2queue.append_only('s.jobs');
});
my $admin = $node->connstr('postgres') . ' user=admin';
my $app = $node->connstr('postgres') . ' user=app';
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $admin,
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 2, 7)} ]);
is($out, '', "admin's run creates no day");
like($err, qr/WARNING:  wal2queue\.maintain_partitions: table s\.jobs is skipped: it is owned by role app, and this call runs as role admin in a session of role admin/,
	'with a WARNING naming the table, its owner and the caller');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $app,
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 2, 7)} ]);
like($out, qr/^created s\.jobs_p\d{8}$/m, "app's own run creates the coming days");
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',')
	FROM wal2queue.partitions('s.jobs') p JOIN pg_class c ON c.oid = p.partition}), 'app', 'owned by app');

# a day of yesterday created by another role (admin, as a member of app)
my $maker = $ENV{W2Q_ATTACK_CONTROL} ? $app : $admin;
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $maker, '-c', q{
	DO $$ BEGIN
		EXECUTE format('CREATE TABLE s.jobs_old PARTITION OF s.jobs FOR VALUES FROM (%L) TO (%L)',
		               date_trunc('day', now(), 'UTC') - interval '1 day', date_trunc('day', now(), 'UTC'));
	END $$} ]);
is($err, '', "yesterday's day created");
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $app, '-c', q{
	INSERT INTO s.jobs (queue, payload, created_at) VALUES ('q', '{}', now()), ('q', '{}', now() - interval '1 day')} ]);
is($err, '', 'app inserts a job into each day');
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s523', 's.jobs')});

($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $app,
	'-c', q{SELECT wal2queue.prune('s.jobs', force => true)} ]);
diag("prune as app: $out $err");
unlike($err, qr/ERROR/, "the table's owner prunes its own table without an error");
if ($ENV{W2Q_ATTACK_CONTROL})
{
	is($out, '2', 'both rows are deleted');
}
else
{
	is($out, '1', "the row of app's day is deleted");
	like($err, qr/WARNING:  wal2queue\.prune: partition s\.jobs_old of table s\.jobs is skipped: it is owned by role admin/,
		"admin's day is skipped with a WARNING naming it and its owner");
}
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $app,
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 2, 0, force => true)} ]);
diag("maintain_partitions as app: $out $err");
unlike($err, qr/ERROR/, "the table's owner maintains its own table without an error");
is($out, ($ENV{W2Q_ATTACK_CONTROL} ? 'dropped' : 'kept') . ' s.jobs_old',
	$ENV{W2Q_ATTACK_CONTROL} ? "app's old day is dropped" : "admin's old day is kept");

# a DEFAULT partition of another role: app's run creates no day and drops
# nothing, with a WARNING naming it, no ERROR (its lock is not tried)
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $maker,
	'-c', q{CREATE TABLE s.jobs_default PARTITION OF s.jobs DEFAULT} ]);
is($err, '', 'a DEFAULT partition created');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $app,
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 4, 7)} ]);
diag("maintain_partitions as app: $out $err");
unlike($err, qr/ERROR/, 'no error');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	like($out, qr/^created s\.jobs_p\d{8}$/m, 'the days are created');
}
else
{
	is($out, '', 'no day created');
	like($err, qr/WARNING:  wal2queue\.create_partitions: partition s\.jobs_default of table s\.jobs is skipped: it is owned by role admin/,
		"admin's DEFAULT partition is named in a WARNING");
}
$node->stop;
done_testing();
