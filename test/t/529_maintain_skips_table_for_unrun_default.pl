# What: a false positive that stops partition creation.  The application
# role "app" (no superuser) owns its partitioned job table, whose column
# queue has DEFAULT app.default_queue(), a function of app's (a common
# schema: id generators, tenant helpers).  pg_cron runs, as a superuser,
# maintain_partitions() as the docs' quick start does: foreign_code()
# finds "default or generated column queue of app.jobs calls function
# app.default_queue(), owned by role app" and the table is skipped, no day
# created -- yet nothing in maintain_partitions() or prune() runs a
# default or a generation expression: CREATE TABLE ... (LIKE ... INCLUDING
# DEFAULTS INCLUDING GENERATED) copies the expressions without evaluating
# them, ATTACH PARTITION does not evaluate them, and the judge's and
# prune()'s queries insert nothing (here the function, which records
# current_user, never runs as the superuser when the days are created).
# The WARNING goes to the server log; the cron job succeeds; once the
# days made before run out, INSERTs fail ("no partition of relation
# app.jobs found for row") or pile into the DEFAULT partition.
# Why: sql/src/28_foreign_code.sql foreign_code(): the pg_attrdef branch
# ("a column default or generated column (CREATE TABLE ... LIKE ...
# INCLUDING DEFAULTS, GENERATED copies them)": copied, not run) applies
# to every caller, maintain_partitions() and create_partitions() too.
# Expected: maintain_partitions() creates the days of a table whose only
# code of another role is in column defaults or generated columns (as it
# did before the fix); the function never runs as the caller.
# Severity: medium (availability: a common table shape loses its
# partition maintenance under a superuser's cron with only a WARNING in
# the log; INSERTs fail days later).
# Control: W2Q_ATTACK_CONTROL=1 makes the default a literal ('default'):
# passes.
# Fixed: foreign_code() is gone; the rule is the owner's identity
# (wal2queue.owner_session()), not the functions its code names: the
# owner's own run (pg_cron as role app) creates the days of its table
# whatever its defaults call (here a function of another role, lib,
# which foreign_code() judged).  A superuser's run on app's table is now
# skipped by design (the WARNING's HINT gives the pg_cron recipe to run it
# as app).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_default_false_positive');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE ROLE lib LOGIN;
	CREATE SCHEMA app AUTHORIZATION app;
	CREATE SCHEMA lib AUTHORIZATION lib;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	GRANT USAGE ON SCHEMA lib TO app;
});
# the helper a common schema of another role (lib, no superuser) provides
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=lib', '-c', q{
	CREATE TABLE lib.ran (who name);
	GRANT INSERT ON lib.ran TO PUBLIC;
	CREATE FUNCTION lib.default_queue() RETURNS text LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO lib.ran VALUES (current_user);
		RETURN 'default';
	END $f$;} ]);
is($err, '', "lib's helper function");
my $default = $ENV{W2Q_ATTACK_CONTROL} ? q{'default'} : 'lib.default_queue()';
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=app', '-c', qq{
	CREATE TABLE app.jobs (id bigint, queue text NOT NULL DEFAULT $default, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);} ]);
is($err, '', "app's partitioned job table with a column default");

my ($mout, $merr) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('app.jobs', 2, 7)} ]);
diag("maintain_partitions as app: $mout $merr");
is($merr, '', "the owner's maintain_partitions() runs without an error or WARNING");
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('app.jobs') WHERE lower_bound >= now() - interval '1 day'}), '3',
	'today and the next two days have their partitions');
# what create_partitions() would run, by hand, as the superuser in a fresh
# session: the default is copied, not run
$node->safe_psql('postgres', q{
	CREATE TABLE app.jobs_p20200101 (LIKE app.jobs INCLUDING DEFAULTS INCLUDING GENERATED
	  INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION);
	ALTER TABLE app.jobs_p20200101 OWNER TO app;
	ALTER TABLE app.jobs ATTACH PARTITION app.jobs_p20200101 FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
	SELECT EXISTS (SELECT 1 FROM app.jobs t WHERE t.created_at >= '2020-01-01');
	SELECT EXISTS (SELECT 1 FROM ONLY app.jobs_p20200101 t WHERE NOT (ROW(t.*)::text IS NULL));
	DELETE FROM ONLY app.jobs_p20200101;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM lib.ran}), '0',
	"the default's function never ran as the caller of create_partitions()'s DDL, the judge's query or prune()'s DELETE");
$node->stop;
done_testing();
