# ATTACK (fails on main): prune() judges a row by its xmin, which is the xid
# of the row VERSION, not of the INSERT that made the job.  Rows a slot never
# delivered (inserted while the slot was dropped, before its re-creation
# through the documented path: drop + unregister, then
# wal2queue.create_slot()) must stay until force => true (issue 11, item 2).
# An ordinary UPDATE of such a row (a retry counter, a status, or a
# cross-partition move, which the plugin deliberately does not deliver)
# gives the new version an xmin the new slot has passed, and prune() deletes
# a job no slot delivered.  Expected: none of the 30 rows is deleted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pruneupdate');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	SELECT wal2queue.create_slot('s', 'public.jobs');
});
# the slot is dropped (as --drop-slot does) while 30 jobs wait, then re-created
$node->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('s');
	SELECT wal2queue.unregister_slot('s');
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 30) g;
});
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s', 'public.jobs')});
# the application touches the waiting jobs
$node->safe_psql('postgres', q{UPDATE jobs SET payload = payload || '{"attempt": 2}'});

my $b = start_bridge($node, $r, '--slot', 's', '--tables', 'public.jobs',
	'--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the new slot delivers the new job only');
my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '30',
	'prune keeps the 30 jobs no slot delivered');
note("prune deleted $deleted rows");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
