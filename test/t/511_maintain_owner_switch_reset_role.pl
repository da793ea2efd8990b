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
# Fixed: no role switch any more.  Session 8 (replacing foreign_code(),
# test/t/520-529): maintain_partitions() and create_partitions() act on a
# table only when its owner is a superuser or the session is the owner's
# own (wal2queue.owner_session()): current_user, session_user and the role
# the session logged in as are all the owner.  The superuser's run is
# skipped with a WARNING naming table, owner and caller, with the pg_cron
# HINT (the control too); so is the superuser's SET ROLE mallory (the code
# could RESET ROLE) and SET SESSION AUTHORIZATION mallory (the code could
# RESET SESSION AUTHORIZATION); mallory's own session creates the days.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_reset_role');
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = owner_code_fixture($node, extension => 1, pwn => 'reset_role', sql => qq{
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE TABLE m.jobs_default PARTITION OF m.jobs DEFAULT;
	CREATE INDEX jobs_tag ON m.jobs $expr;});
is($err, '', "mallory's partitioned job table with an expression index and a DEFAULT partition");

my ($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)});
diag("maintain_partitions: $mout $merr");
is($rc, 0, 'maintain_partitions() runs without an error');
my $skip = qr/WARNING:  wal2queue\.(maintain|create)_partitions: table m\.jobs is skipped: it is owned by role mallory, and this call runs as role (postgres|mallory) in a session of role postgres/;
is($mout, '', 'no day is created for the table of another role');
like($merr, $skip, 'a WARNING names the table, its owner and the caller');
like($merr, qr/HINT:  Run it in a session of role mallory, e\.g\. with pg_cron: SELECT cron\.schedule_in_database\(/,
	'and says how to run it as the owner');
my ($crc, $cout, $cerr) = $node->psql('postgres', q{SELECT * FROM wal2queue.create_partitions('m.jobs', 1)});
is($cout, '', 'create_partitions() creates nothing either');
like($cerr, $skip, 'with the same WARNING');
# a role switch to the owner is no session of the owner
($crc, $cout, $cerr) = $node->psql('postgres', q{SET ROLE mallory; SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)});
is($cout, '', 'SET ROLE mallory: no day created');
like($cerr, qr/table m\.jobs is skipped: it is owned by role mallory, and this call runs as role mallory in a session of role postgres/,
	'SET ROLE mallory is refused');
($crc, $cout, $cerr) = $node->psql('postgres', q{SET SESSION AUTHORIZATION mallory; SELECT session_user, current_user;
	SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)});
is($cout, 'mallory|mallory', 'SET SESSION AUTHORIZATION mallory: no day created');
like($cerr, qr/table m\.jobs is skipped: it is owned by role mallory, and this call runs as role mallory in a session of role postgres/,
	'SET SESSION AUTHORIZATION mallory is refused (the login role is postgres)');
is($node->safe_psql('postgres', q{SELECT current_user}), 'postgres', "the caller's session");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"the table's owner did not make itself a superuser through the caller's session");

# mallory maintains her own table: her code runs as herself
mallory_maintains_own($node);
$node->stop;
done_testing();
