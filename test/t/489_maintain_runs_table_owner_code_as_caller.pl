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
# Fixed (session 8, replacing foreign_code()'s judging of the functions
# called, test/t/520-529): maintain_partitions() and create_partitions()
# act on a table only when its owner is a superuser or the session is the
# owner's own (wal2queue.owner_session()): the superuser's run on
# mallory's table is skipped with a WARNING naming table, owner and
# caller, in the control too (the rule is who owns the table, not what its
# code calls); mallory's own run creates the days, owned by mallory, its
# code running as itself.  A superuser's run on another superuser's table
# gives each day to the table's owner.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_owner');
my $file = "$ENV{TESTDIR}/pwned_489";
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = owner_code_fixture($node, extension => 1, pwn => 'copy', file => $file, sql => qq{
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE INDEX jobs_tag ON m.jobs $expr;});
is($err, '', "mallory's partitioned job table with an expression index");
unlink $file;
my $ctl = $ENV{W2Q_ATTACK_CONTROL};
my $skipped = qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs is skipped: it is owned by role mallory, and this call runs as role postgres in a session of role postgres\n.*HINT:  Run it in a session of role mallory, e\.g\. with pg_cron: SELECT cron\.schedule_in_database\('w2q-maintain m\.jobs', '<schedule>', \$cmd\$SELECT wal2queue\.maintain_partitions\('m\.jobs'\)\$cmd\$, current_database\(\), 'mallory'\)/s;
my ($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 2, 7)});
diag("maintain_partitions: $mout $merr");
is($mout, '', 'no day is created by the superuser');
like($merr, $skipped, 'a WARNING names the table, its owner and the caller, and the HINT how to run it as the owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.maintain_partitions('m.jobs', 3, 7);
	SELECT current_user}), "0\npostgres", "the next run too, and the session's role is the caller's");
ok(!-e $file, "no code of the table's owner ran as maintain_partitions()'s caller")
  or diag('file written by: ' . slurp_file($file));
my $mallory = $node->connstr('postgres') . ' user=mallory';
($mout, $merr) = run_command([ 'psql', '-X', '-A', '-t', '-d', $mallory,
	'-c', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 2, 7)} ]);
like($mout, qr/^created\|m\.jobs_p\d{8}$/m, "mallory's own run creates the days");
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',')
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'm.jobs'::regclass}),
	'mallory', "the days are owned by the table's owner");

# a superuser's run on another superuser's table gives the days to it
$node->safe_psql('postgres', q{
	CREATE ROLE dba SUPERUSER;
	CREATE TABLE public.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	ALTER TABLE public.jobs OWNER TO dba;
	SELECT count(*) FROM wal2queue.maintain_partitions('public.jobs', 2, 7);
});
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',') || ' ' || count(*)
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.jobs'::regclass}),
	'dba 3', "a superuser's table: its days are created and given to its owner");

# with a DEFAULT partition too, which create_partitions() reads before
# each day (default_holds_day(): its planning loads the DEFAULT
# partition's index expressions)
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', 'CREATE TABLE m.jobs_default PARTITION OF m.jobs DEFAULT' ]);
is($err, '', 'mallory gives the table a DEFAULT partition');
unlink $file;
($rc, $mout, $merr) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 5, 7)});
like($merr, $skipped, 'the table is skipped with the WARNING');
ok(!-e $file, "no code of the table's owner ran as the caller with a DEFAULT partition")
  or diag('file written by: ' . slurp_file($file));
$node->stop;
done_testing();
