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

# step 5, literally: prune until it returns 0
my $sql = $control ? q{SELECT wal2queue.prune('public.job_queue', force => true)}
  : q{SELECT wal2queue.prune('public.job_queue')};
my ($deleted, $err) = (0, '');
for (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	my ($rc, $o, $e) = $node->psql('postgres', $sql);
	$err = $e if $rc;
	last if $rc || $o eq '0' && $deleted;
	$deleted += $o;
}
note("prune: deleted $deleted" . ($err ? ", error: $err" : ''));
is($err, '', 'step 5: prune() of the migrated table runs as the guide says');
my $left = $node->safe_psql('postgres', 'SELECT count(*) FROM job_queue');
cmp_ok($left, '<=', 1, "step 5: prune() deleted the completed and delivered rows (left: $left of 1021)");

stop_bridge($b);
done_testing();
