# What: 511's class through the other switch: create_partitions() runs each
# day's ATTACH as the job table's owner (set_config('role', owner, true),
# 489's fix), no DEFAULT partition needed.  ATTACH PARTITION proves the new
# partition's constraint from the table's CHECK constraints, which it
# simplifies first (PartConstraintImpliedByRelConstraint():
# eval_const_expressions), outside any security-restricted operation: the
# owner (no superuser) gives the job table a CHECK constraint over an
# IMMUTABLE function of its own, copied to each day by CREATE TABLE ...
# (LIKE ... INCLUDING CONSTRAINTS); the function, running under SET ROLE
# in the superuser's session, sets the role back to none (the session
# user), makes its role a superuser and sets the role to itself again.
# Why: sql/src/40_job_tables.sql create_partitions(): 'PERFORM
# set_config(''role'', owner, true)' then 'ALTER TABLE %s ATTACH PARTITION
# %s ...': SET ROLE is no sandbox; only PostgreSQL's own
# SECURITY_RESTRICTED_OPERATION is (DefineIndex's index build is, ATTACH's
# constraint proof is not).
# Expected: the owner's code cannot act as the caller: mallory stays
# NOSUPERUSER (e.g. refuse a table whose CHECK constraints, index
# expressions or predicates call a function of a role other than a
# superuser's, as the backfill does since 482).
# Severity: high (privilege escalation from any partitioned job table's
# owner to the caller of maintain_partitions() / create_partitions(),
# typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes the CHECK over length(queue) alone:
# passes.
# Fixed: no role switch any more; a table whose CHECK constraints (index
# expressions, predicates, statistics, defaults, policies) call a function
# of a role that is neither a superuser nor the caller is skipped by
# maintain_partitions() and create_partitions() with a WARNING naming the
# constraint, the function and its owner (wal2queue.foreign_code()):
# nothing of mallory's runs, no day is created; the control's days are
# created, and mallory creates hers herself.  Session 8 (replacing
# foreign_code(), test/t/520-529): a table is acted on only when its owner
# is a superuser or the session is the owner's own (owner_session()): the
# superuser's run on mallory's table is skipped with a WARNING naming
# table, owner and caller, in the control too.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_attach_check');
my $check = $ENV{W2Q_ATTACK_CONTROL} ? 'length(queue) >= 0' : 'length(queue) >= length(m.tag(0))';
my ($out, $err) = owner_code_fixture($node, extension => 1, pwn => 'reset_role', sql => qq{
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL CHECK ($check),
	  payload jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now())
	  PARTITION BY RANGE (created_at);});
is($err, '', "mallory's partitioned job table with a CHECK constraint");

my ($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)});
diag("maintain_partitions: $mout $merr");
is($rc, 0, 'maintain_partitions() runs without an error');
is($mout, '', 'no day is created for the table of another role');
like($merr, qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs is skipped: it is owned by role mallory, and this call runs as role postgres/,
	'a WARNING names the table, its owner and the caller');
my ($crc, $cout, $cerr) = $node->psql('postgres', q{SELECT * FROM wal2queue.create_partitions('m.jobs', 1)});
is($cout, '', 'create_partitions() creates nothing either');
like($cerr, qr/WARNING:  wal2queue\.create_partitions: table m\.jobs is skipped: it is owned by role mallory/,
	'with the same WARNING');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"the table's owner did not make itself a superuser through the caller's session");

# mallory maintains her own table: her code runs as herself
mallory_maintains_own($node);
$node->stop;
done_testing();
