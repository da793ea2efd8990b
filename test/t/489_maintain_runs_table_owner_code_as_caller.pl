# What: the owner of a partitioned job table (the application's role, no
# superuser) gives it an expression index over an IMMUTABLE function of
# its own.  The DBA's daily maintain_partitions() (pg_cron, as a
# superuser: the extension's maintenance functions are run by whoever
# schedules them) creates each day as a table of its own and attaches it:
# the new partition is owned by the CALLER, and ATTACH builds the cloned
# expression index on it as the partition's owner -- the owner's function
# runs as the superuser (index builds switch to the table's owner, which
# is now the caller).  Here it writes current_user into a file with COPY
# ... TO.  The planning of default_holds_day()'s and partition_pending()'s
# queries does the same (482's vector, in the extension).  The partitions
# also end up owned by the caller, not by the job table's owner.
# Why: sql/src/40_job_tables.sql create_partitions(): 'EXECUTE
# format(''CREATE TABLE %s (LIKE %s ...)'')' and 'ALTER TABLE %s ATTACH
# PARTITION %s' run as the caller (SECURITY INVOKER, no SET ROLE), so the
# index build of the attached table runs as its owner, the caller.  (The
# same held with PARTITION OF before 437's fix: not a regression, but the
# functions pin search_path to keep another role's code out, and this
# gets in.)
# Expected: no code of the job table's owner runs as the caller: e.g. the
# day created and attached as the job table's owner (SET ROLE to it, as
# PostgreSQL's own maintenance commands switch to the table's owner), or
# a refusal when the caller is not the table's owner; no file written.
# W2Q_ATTACK_CONTROL=1 makes the index over queue alone: passes.
# Severity: high (privilege escalation from any job table's owner to the
# role that runs maintain_partitions(), typically a superuser via pg_cron;
# silent).
# Fixed: maintain_partitions() and create_partitions() skip a table whose
# index expressions (predicates, constraints, statistics, defaults,
# policies) call a function of a role that is neither a superuser nor the
# caller, with a WARNING naming it (wal2queue.foreign_code()); session 7's
# SET ROLE to the owner was no sandbox (test/t/511, 519) and is gone.  A
# superuser still gives each day to the table's owner (the control).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_owner');
my $file = "$ENV{TESTDIR}/pwned_489";
unlink $file;
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
	GRANT USAGE ON SCHEMA wal2queue TO mallory;
});
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
	CREATE FUNCTION m.pwn() RETURNS void LANGUAGE plpgsql VOLATILE AS \$f\$
	BEGIN
		IF current_user <> 'mallory' THEN
			EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
		END IF;
	END \$f\$;
	CREATE FUNCTION m.tag(i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS \$f\$
	BEGIN
		PERFORM m.pwn();
		RETURN '';
	END \$f\$;
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE INDEX jobs_tag ON m.jobs $expr;} ]);
is($err, '', "mallory's partitioned job table with an expression index");
unlink $file;
my $ctl = $ENV{W2Q_ATTACK_CONTROL};
my $skipped = qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs is skipped: its index m\.jobs_tag calls function m\.tag\(integer\), owned by role mallory/;
my ($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 2, 7)});
diag("maintain_partitions: $mout $merr");
if ($ctl)
{
	like($mout, qr/^created\|m\.jobs_p\d{8}$/m, 'the days are created');
	is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',')
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'm.jobs'::regclass}),
		'mallory', "the days are owned by the table's owner");
}
else
{
	is($mout, '', 'no day is created');
	like($merr, $skipped, 'a WARNING names the index, the function and its owner');
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.maintain_partitions('m.jobs', 3, 7);
	SELECT current_user}), ($ctl ? "1" : "0") . "\npostgres", "the next run too, and the session's role is the caller's");
ok(!-e $file, "no code of the table's owner ran as maintain_partitions()'s caller")
  or diag('file written by: ' . slurp_file($file));

# with a DEFAULT partition too, which create_partitions() reads before
# each day (default_holds_day(): its planning loads the DEFAULT
# partition's index expressions)
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', 'CREATE TABLE m.jobs_default PARTITION OF m.jobs DEFAULT' ]);
is($err, '', 'mallory gives the table a DEFAULT partition');
unlink $file;
($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 5, 7)});
if ($ctl)
{
	like($mout, qr/^created\|m\.jobs_p\d{8}$/m, 'the days are created');
}
else
{
	like($merr, $skipped, 'the table is skipped with the WARNING');
}
ok(!-e $file, "no code of the table's owner ran as the caller with a DEFAULT partition")
  or diag('file written by: ' . slurp_file($file));
$node->stop;
done_testing();
