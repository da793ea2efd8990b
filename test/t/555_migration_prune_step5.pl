# What: docs/migration.md followed literally up to step 5: a SKIP LOCKED
# job_queue (100 pending, 900 completed), the extension, the bridge of step
# 1 (--create-slot --backfill="status = 'pending'"), new rows inserted and
# delivered, the transition rule's UPDATEs (steps 3-4), then step 5's
# "SELECT wal2queue.prune('public.job_queue'); -- e.g. from cron; repeat
# until it returns 0".  The guide promises that prune() then deletes the
# delivered rows and, after mark_backfilled, "the rows older than the slot,
# including the old completed ones".  It deletes nothing: prune() refuses
# the table ("is not append-only: ... no trigger wal2queue_append_only"),
# which the guide never mentions; and the way out the error names
# (append_only()) makes every row written before it count as undelivered,
# so after it prune() returns 0 at once ("repeat until it returns 0": done)
# and the 900 completed and every migrated row stay forever.
# Why: docs/migration.md step 5 (and "A lost slot": "every row not yet
# pruned" is the duplicates window) assumes prune() works on the article's
# table; sql/src/30_prune.sql requires the append-only guard, and a table
# that took the transition rule's UPDATEs cannot have had it; test/t/032
# never calls prune().
# Expected: step 5 as written deletes the 900 completed rows and the
# delivered ones (or the guide gives the step that makes it so, e.g.
# append_only() at step 5 plus a documented force => true for the rows
# before it, and 032 runs it).
# Severity: medium -- no job is lost, but the table never shrinks, the
# lost-slot recovery's duplicates window becomes every pending row ever
# migrated, and the literal step fails with an error or silently returns 0.
# Control (W2Q_ATTACK_CONTROL=1): the same steps, prune(..., force => true):
# the completed and delivered rows are deleted, so the setup (attestation,
# mark_backfilled) is sound and only the guard stops step 5.
# Fixed: docs/migration.md step 5 now says what prune() needs and does:
# append_only() once the workers no longer UPDATE, then prune() (rows
# inserted after it, once delivered), and the rows from before it removed
# once with prune(..., force => true) after the backfill and the sweep (or
# by a plain DELETE of the completed rows).  This test runs the new step 5
# literally: the plain prune() refuses the table before append_only(),
# deletes the job inserted after it, and the forced one the 1021 rows from
# before (completed or delivered); test/t/032 does the same on the guide's
# full scenario.  The control now runs the old literal step (plain prune()
# without append_only()), which still refuses the table.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('mig555', conf => "max_slot_wal_keep_size = 1GB\n");
my $r = start_redis();

$node->safe_psql('postgres', q{
	CREATE TABLE job_queue (
		id         bigserial PRIMARY KEY,
		payload    jsonb NOT NULL,
		status     text NOT NULL DEFAULT 'pending',
		created_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO job_queue (payload, status)
	SELECT jsonb_build_object('n', g), CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'completed' END
	FROM generate_series(1, 1000) g;
	CREATE EXTENSION wal2queue;
	CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
	GRANT SELECT ON job_queue TO wal2queue_bridge;
	GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge;
});

# step 1, the guide's command line (metrics and log-status left out)
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=wal2queue_bridge',
	'--slot', 'job_queue', '--create-slot', "--backfill=status = 'pending'",
	'--tables', 'public.job_queue', '--redis-group', 'workers', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') eq '100' }, 60),
	'step 1: the 100 pending jobs are backfilled')
  or diag(bridge_log($b));
# step 2: producers go on inserting
$node->safe_psql('postgres',
	q{INSERT INTO job_queue (payload) SELECT jsonb_build_object('new', g) FROM generate_series(1, 20) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') eq '120' }, 60),
	'step 2: the 20 new jobs are streamed');
# steps 3-4: the transition rule claims and completes every job in the table
$node->safe_psql('postgres', q{
	UPDATE job_queue SET status = 'running' WHERE status = 'pending';
	UPDATE job_queue SET status = 'completed' WHERE status = 'running';
});
# a job inserted after the workers dropped the transition rule (step 5)
$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"late": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') eq '121' }, 60), 'the late job is streamed');
ok(wait_attested($node, 'job_queue', 30), 'the bridge attested its slot');
is($node->safe_psql('postgres', q{SELECT backfilled_at IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'job_queue'}),
	't', 'mark_backfilled() was called');

# the old step 5, literally: prune() refuses the table without its guard
my ($rc, $o, $e) = $node->psql('postgres', q{SELECT wal2queue.prune('public.job_queue')});
like($e, qr/is not append-only/, 'without append_only(), prune() refuses the table');
if ($control)
{
	stop_bridge($b);
	done_testing();
	exit 0;
}

# step 5 as the guide says now: append_only() (the workers no longer
# UPDATE), prune() until it returns 0 ...
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.job_queue')});
my $pre = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"after": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') eq '122' }, 60), 'a job inserted after append_only() is streamed');
sub prune_loop
{
	my ($sql, $want) = @_;
	my $deleted = 0;
	for (1 .. 20)
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		my $n;
		$deleted += $n while ($n = $node->safe_psql('postgres', $sql)) > 0;
		last if $deleted >= $want;
	}
	return $deleted;
}
is(prune_loop(q{SELECT wal2queue.prune('public.job_queue')}, 1), 1,
	'step 5: prune() deletes the delivered job inserted after append_only()');
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id <= $pre"), '1021',
	'step 5: prune() keeps the rows from before append_only()');
# ... and the rows from before it once, with force => true
is(prune_loop(q{SELECT wal2queue.prune('public.job_queue', force => true)}, 1021), 1021,
	'step 5: prune(force => true) deletes the 1021 completed and delivered rows from before append_only()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM job_queue'), '0', 'step 5: the table is empty');

stop_bridge($b);
done_testing();
