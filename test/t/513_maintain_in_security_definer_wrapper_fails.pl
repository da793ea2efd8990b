# What: the DBA lets the application (or a scheduler's role) run the
# nightly partition maintenance through a SECURITY DEFINER wrapper owned
# by a superuser (the usual way to give a role one privileged action):
#     CREATE FUNCTION public.nightly() ... SECURITY DEFINER
#         AS $$ SELECT ... FROM wal2queue.maintain_partitions('a.jobs', 6, 7) $$;
# Since 489's fix, create_partitions() (and default_holds_day()) switch to
# the job table's owner with set_config('role', owner, true) whenever the
# caller is a member of it and not the owner (a superuser is a member of
# every role).  PostgreSQL refuses to set "role" inside a security-definer
# function: "cannot set parameter "role" within security-definer
# function", and the whole run fails, every day uncreated.  Before 489's
# fix (CREATE TABLE ... PARTITION OF as the caller) the same wrapper
# worked: a regression, found only when the days run out and INSERTs fail
# ("no partition of relation ... found for row").
# Why: sql/src/40_job_tables.sql create_partitions(): 'PERFORM
# set_config(''role'', owner, true)' (also default_holds_day()); guc.c
# refuses GUC_NOT_WHILE_SEC_REST settings under InLocalUserIdChange().
# Expected: maintain_partitions() through the wrapper creates the days (or
# fails only for a table whose owner's code it would have to run, naming
# why), as it did before.
# Severity: medium (the partition maintenance of every job table owned by
# another role stops under such a wrapper: after days_ahead days the
# application's INSERTs fail; loud, but in a cron log).
# Control: W2Q_ATTACK_CONTROL=1 makes the wrapper SECURITY INVOKER: passes.
# Fixed: create_partitions() and default_holds_day() no longer set the
# role.  Session 8 (replacing foreign_code(), test/t/520-529): a table is
# acted on only when its owner is a superuser or the session is the
# owner's own (wal2queue.owner_session()): through the superuser's wrapper,
# called by the scheduler, app's table is skipped with the WARNING and its
# pg_cron HINT (the wrapper's current_user is no session of app's; the
# control too), and a superuser's table gets its days.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_secdef');
my $sd = $ENV{W2Q_ATTACK_CONTROL} ? 'SECURITY INVOKER' : 'SECURITY DEFINER';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE ROLE scheduler LOGIN;
	CREATE SCHEMA a AUTHORIZATION app;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	SET ROLE app;
	SELECT wal2queue.create_job_table('a.jobs', true);
	RESET ROLE;
	CREATE TABLE public.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE FUNCTION public.nightly(t regclass) RETURNS SETOF text LANGUAGE sql $sd
	SET search_path = pg_catalog
	AS \$\$ SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions(t, 6, 7) \$\$;
	GRANT EXECUTE ON FUNCTION public.nightly(regclass) TO scheduler;
	GRANT USAGE ON SCHEMA wal2queue, a TO scheduler;
});
my $sched = $node->connstr('postgres') . ' user=scheduler';
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $sched, '-c', q{SELECT public.nightly('a.jobs')} ]);
diag("nightly('a.jobs'): $out $err");
unlike($err, qr/ERROR/, "the nightly maintenance of app's table through the wrapper runs without an error");
is($out, '', 'and creates no day');
like($err, qr/WARNING:  wal2queue\.maintain_partitions: table a\.jobs is skipped: it is owned by role app, and this call runs as role (postgres|scheduler) in a session of role scheduler\n.*HINT:  Run it in a session of role app, e\.g\. with pg_cron/s,
	"app's table is skipped with the WARNING and the pg_cron HINT");
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	# called in a superuser's session (the scheduler's would fail at
	# record_guard(), which wants the login role to be a member of the
	# table's owner)
	($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c', q{SELECT public.nightly('public.jobs')} ]);
	diag("nightly('public.jobs'): $out $err");
	is($err, '', "the nightly maintenance of a superuser's table through the wrapper succeeds");
	like($out, qr/^created public\.jobs_p\d{8}$/m, 'and creates the coming days');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('public.jobs')}), '7',
		'today and the next six days have their partitions');
}
$node->stop;
done_testing();
