# What: 489's fix runs the code of a job table's owner "as the owner":
# create_partitions() and default_holds_day() switch with
# set_config('role', owner, true) when the caller is a member of the owner
# (a superuser always is).  SET ROLE is no sandbox: the session user is
# still the caller, and code running under it may SET ROLE back
# (set_config('role', 'none') or to any role the session user may become)
# unless it runs in a security-restricted operation, which PL/pgSQL cannot
# enter.  The table's owner (no superuser) plants an expression index over
# an IMMUTABLE function of its own and a DEFAULT partition; the DBA's
# maintain_partitions() (pg_cron, superuser) plans default_holds_day()'s
# query as the owner, the planner simplifies the index expressions, the
# owner's function resets the role to the superuser, makes its role a
# superuser and sets the role back, unseen.
# Why: sql/src/40_job_tables.sql default_holds_day() (PERFORM
# set_config('role', owner, true) around the EXECUTE); the same switch in
# create_partitions() (around ATTACH, where the index build itself is
# restricted, but any planning under the switch is not).
# Expected: the owner's code cannot act as the caller: mallory stays
# NOSUPERUSER (e.g. refuse a table whose index expressions, predicates or
# CHECK constraints call a function of a role other than a superuser's,
# as the backfill does since 482, instead of a SET ROLE).
# Severity: high (privilege escalation from any job table's owner with a
# DEFAULT partition to the caller of maintain_partitions() or
# create_partitions(), typically a superuser; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes the index over queue alone: passes.
# Fixed: no role switch any more; maintain_partitions() and
# create_partitions() skip a table whose index expressions (predicates,
# constraints, statistics, defaults, policies) call a function of a role
# that is neither a superuser nor the caller, with a WARNING naming the
# table, the function and its owner (wal2queue.foreign_code()): nothing
# of mallory's runs, no day is created; with the index over queue alone
# (the control) the days are created.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_reset_role');
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
		IF session_user <> 'mallory' AND current_user = 'mallory' THEN
			BEGIN
				PERFORM set_config('role', 'none', true);
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
				PERFORM set_config('role', 'mallory', true);
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
		END IF;
	END \$f\$;
	CREATE FUNCTION m.tag(i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS \$f\$
	BEGIN
		PERFORM m.pwn();
		RETURN '';
	END \$f\$;
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE TABLE m.jobs_default PARTITION OF m.jobs DEFAULT;
	CREATE INDEX jobs_tag ON m.jobs $expr;} ]);
is($err, '', "mallory's partitioned job table with an expression index and a DEFAULT partition");

my ($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)});
diag("maintain_partitions: $mout $merr");
is($rc, 0, 'maintain_partitions() runs without an error');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	like($mout, qr/^created\|m\.jobs_p\d{8}$/m, 'the days are created');
}
else
{
	is($mout, '', 'no day is created for the table whose code is another role\'s');
	like($merr, qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs is skipped: its index m\.jobs_tag calls function m\.tag\(integer\), owned by role mallory/,
		'a WARNING names the table, the index, the function and its owner');
	like($merr, qr/HINT:  Make a superuser own the function .*or run wal2queue\.maintain_partitions\(\) as role mallory/,
		'and says what to do');
	my ($crc, $cout, $cerr) = $node->psql('postgres', q{SELECT * FROM wal2queue.create_partitions('m.jobs', 1)});
	is($cout, '', 'create_partitions() creates nothing either');
	like($cerr, qr/WARNING:  wal2queue\.create_partitions: table m\.jobs is skipped: its index m\.jobs_tag calls function m\.tag\(integer\)/,
		'with the same WARNING');
}
is($node->safe_psql('postgres', q{SELECT current_user}), 'postgres', "the caller's session");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"the table's owner did not make itself a superuser through the caller's session");

# mallory maintains her own table: her code runs as herself
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=mallory',
	'-c', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 2, 7)} ]);
like($out, qr/^created\|m\.jobs_p\d{8}$/m, "the table's owner creates the days itself");
unlike($err, qr/WARNING/, 'without a WARNING');
$node->stop;
done_testing();
