# What: the owner WARNINGs' HINTs give a pg_cron command to run the
# maintenance in the owner's session (544, and the plain owner case): one
# for prune(), one for maintain_partitions(), and both name the cron job
# 'w2q <table>'.  pg_cron keys jobs on (jobname, username) and
# cron.schedule_in_database() with a name that exists REPLACES that job.
# An operator who sees both WARNINGs for a partitioned job table (the
# nightly maintenance and the minutely prune, run from the superuser's
# cron) and pastes both HINTs ends up with one job: the second replaces the
# first.  If prune()'s came second, maintain_partitions() stops: no new day
# is created, and days_ahead (3) days later every INSERT fails ("no
# partition of relation ... found for row": create_job_table() makes no
# DEFAULT partition).  If maintain_partitions()' came second, prune() stops
# and the table grows.  docs/extension.md's own example uses two names
# ('w2q-maintain app.jobs', 'w2q-prune app.jobs').
# Why: sql/src/28_owner_session.sql owner_session(): both HINTs format the
# job name as 'w2q ' || rel, whatever the caller.
# Expected: the two HINTs for one table name two different cron jobs.
# Severity: low-medium (an operator following both HINTs loses one of the
# two jobs silently; the lost maintain_partitions() stops the producers'
# INSERTs days later).  Not run with pg_cron (not installed here): pg_cron's
# replace-by-name is its documented behaviour (cron.schedule: "a job with
# the same name ... is updated").
# Reliability: deterministic; fails every run on main at 362c68c.
# Control: W2Q_ATTACK_CONTROL=1 compares prune()'s HINTs for two different
# tables: two names (passes).
# Fixed: owner_session() names the HINT's pg_cron job after the function
# too: 'w2q-prune <table>' for prune(), 'w2q-maintain <table>' for
# maintain_partitions() and create_partitions() (the names of
# docs/extension.md's example), in the plain owner's WARNING and in the
# NOLOGIN owner's (544).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('cron587');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE SCHEMA app AUTHORIZATION app;
	GRANT USAGE ON SCHEMA wal2queue TO app;});
my ($out, $err) = run_command([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT wal2queue.create_job_table('app.jobs', partitioned => true)},
	'-c', q{SELECT wal2queue.create_job_table('app.jobs2', partitioned => true)},
	'-c', q{SELECT wal2queue.append_only('app.jobs'); SELECT wal2queue.append_only('app.jobs2')} ]);
is($err, '', 'the application role creates its partitioned job tables') or diag($err);
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s587', 'app.jobs'); SELECT wal2queue.create_slot('s587b', 'app.jobs2')});

sub job_name
{
	my ($sql) = @_;
	my ($rc, $o, $e) = $node->psql('postgres', $sql);
	note("$sql: $e");
	return $e =~ /cron\.schedule_in_database\('([^']*)'/ ? $1 : "none ($e)";
}
my $first = job_name(q{SELECT wal2queue.prune('app.jobs')});
my $second = $control ? job_name(q{SELECT wal2queue.prune('app.jobs2')})
  : job_name(q{SELECT wal2queue.maintain_partitions('app.jobs')});
note("cron job names: '$first', '$second'");
isnt($second, $first, 'the two HINTs name two different cron jobs');
is($first, 'w2q-prune app.jobs', "prune()'s is docs/extension.md's name");
is($second, $control ? 'w2q-prune app.jobs2' : 'w2q-maintain app.jobs', "the other's too");
$node->stop;
done_testing();
