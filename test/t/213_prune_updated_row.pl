# Fixed (was test/attack): prune() judges a row by its xmin, which is the xid
# of the row VERSION, not of the INSERT that made the job.  Rows a slot never
# delivered (inserted while the slot was dropped, before its re-creation
# through the documented path: drop + unregister, then
# wal2queue.create_slot()) must stay until force => true (issue 11, item 2).
# An ordinary UPDATE of such a row (a retry counter, a status, or a
# cross-partition move, which the plugin deliberately does not deliver)
# gives the new version an xmin the new slot has passed, and prune() deletes
# a job no slot delivered.  Expected: none of the 30 rows is deleted.
# The fix: job tables are append-only (the guard trigger of
# wal2queue.append_only(), which create_job_table() installs); prune without
# force requires it on every partition and counts only rows written since
# the guard's last change.
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
# the application touches the waiting jobs: the append-only guard refuses
my ($ret, $out, $err) = $node->psql('postgres', q{UPDATE jobs SET payload = payload || '{"attempt": 2}'});
like($err, qr/table public\.jobs is append-only/, 'create_job_table() tables refuse UPDATE');
($ret, $out, $err) = $node->psql('postgres',
	q{SET session_replication_role = replica; UPDATE jobs SET payload = payload || '{"attempt": 2}'});
like($err, qr/is append-only/, 'also with session_replication_role = replica');
# the owner drops the guard and updates them anyway
$node->safe_psql('postgres', q{
	DROP TRIGGER wal2queue_append_only ON jobs;
	UPDATE jobs SET payload = payload || '{"attempt": 2}';
});
($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
like($err, qr/table public\.jobs is not append-only: public\.jobs has no trigger wal2queue_append_only/,
	'without the guard prune refuses the table');
# and puts it back: rows written before count as undelivered
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.jobs')});

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
ok(wait_until(sub {
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
	$node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE payload ? 'new'}) eq '0' }),
	'the job the slot delivered after the guard was back is pruned');

# a partitioned job table: a cross-partition move is refused too
$node->safe_psql('postgres', q{
	SELECT wal2queue.create_job_table('public.pjobs', true);
	CREATE TABLE pjobs_old PARTITION OF pjobs FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-02 00:00+00');
	INSERT INTO pjobs (queue, payload, created_at) VALUES ('q', '{}', '2000-01-01 12:00+00');
});
($ret, $out, $err) = $node->psql('postgres', q{UPDATE pjobs SET created_at = now()});
like($err, qr/table public\.pjobs_old is append-only/, 'a cross-partition move is refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgname = 'wal2queue_append_only' AND tgenabled = 'A' AND tgrelid = 'pjobs_old'::regclass}),
	'1', 'a new partition gets the guard, enabled always');
($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
is($ret, 0, 'force needs no guard');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
