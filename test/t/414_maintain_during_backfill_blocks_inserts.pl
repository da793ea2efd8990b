# What: the backfill reads a partitioned job table in one REPEATABLE READ
# transaction and holds ACCESS SHARE on it (bridge/backfill_rewrite.c
# lock_table(): "until the transaction ends") for the whole backfill --
# minutes to hours on the migration guide's table.  The daily
# maintain_partitions() that docs/extension.md says to run from cron
# creates the coming days' partitions (CREATE TABLE ... PARTITION OF) and
# drops old ones (DROP TABLE of a partition): both need a lock on the
# parent that conflicts with ACCESS SHARE, so it waits for the backfill;
# and every INSERT into the job table queues behind its waiting request.
# The application cannot enqueue a job until the backfill ends.
# Why: sql/src/40_job_tables.sql create_partitions() and
# maintain_partitions() run their DDL without a lock_timeout (or a
# NOWAIT try that leaves the work to the next run), and the backfill
# holds its lock for the whole phase.
# Expected: an INSERT into the job table during a backfill and a
# maintain_partitions() goes through (maintain_partitions() gives up on a
# lock it cannot get at once, with a NOTICE, or waits without queueing
# ahead of INSERTs).  Here: the backfill pauses at "last-page" (all pages
# read, its transaction open) for 60 s; maintain_partitions(jobs, 6, 30)
# runs (its CREATE TABLE ... PARTITION OF waits: observed); an INSERT with
# statement_timeout 5 s must succeed (it is cancelled here).
# W2Q_ATTACK_CONTROL=1 runs no maintain_partitions(): passes.
# Fixed: maintain_partitions() first takes the table's own ACCESS
# EXCLUSIVE lock waiting at most a second (lock_briefly()); when it cannot,
# a WARNING says the table is busy and nothing is done.
# Since 437's fix: the days are created during the backfill (CREATE TABLE
# LIKE the table, then ATTACH PARTITION, which takes only SHARE UPDATE
# EXCLUSIVE on the table); only dropping an old partition takes the
# table's ACCESS EXCLUSIVE lock, waiting at most a second.
# Severity: medium (every producer blocked for the rest of the backfill,
# by the maintenance job the docs recommend; no loss).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfmaintain');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	INSERT INTO jobs (queue, payload) SELECT 'q', '{}' FROM generate_series(1, 20);
});
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'last-page';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 60;
my $b = start_bridge($node, $r, '--slot', 'bf_mt', '--create-slot', '--tables', 'public.jobs',
	'--backfill', '--status-interval', '1');
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
ok(wait_until(sub { bridge_log($b) =~ /paused at "last-page"/ }, 60), 'the backfill read its pages')
  or diag(bridge_log($b));
my ($mout, $merr) = ('', '');
my $m;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 30)} ], '>', \$mout, '2>', \$merr);
	sleep 2;
	diag('waiting: ' . $node->safe_psql('postgres', q{
		SELECT string_agg(left(query, 60), ' | ') FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));
}
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '5s'; INSERT INTO jobs (queue, payload) VALUES ('q', '{"late": true}')});
is($rc, 0, 'a producer can enqueue a job during the backfill') or diag($err);
stop_bridge($b, 'KILL');
$m->finish if $m;
diag("maintain_partitions: $mout $merr") if $m;
is(scalar(() = $mout =~ /^created\|/mg), 3, 'maintain_partitions() created the days during the backfill') if $m;
unlike($merr, qr/WARNING/, 'without a WARNING') if $m;
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.maintain_partitions('public.jobs', 6, 30)
	WHERE action = 'created'}), '0', 'the next run has nothing to create')
	if $m;
stop_redis($r);
$node->stop;
done_testing();
