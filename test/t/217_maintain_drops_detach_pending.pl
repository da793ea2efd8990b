# Fixed (was test/attack): maintain_partitions() drops a detach-pending
# partition holding rows no slot delivered.  wal2queue.partitions() reads
# pg_inherits directly, so it lists a partition whose DETACH ... CONCURRENTLY
# was cancelled (inhdetachpending) as a partition of the job table, and
# maintain_partitions() judges its rows by the job table's horizon.  But the
# plugin reports rows inserted into a detach-pending partition as that
# partition's own table (README: "a detach-pending partition by its own
# name"), so a slot with tables = public.jobs never delivered them.  Expected:
# the partition is kept.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintpending');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	CREATE TABLE jobs_old PARTITION OF jobs FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-02 00:00+00');
	SELECT wal2queue.create_slot('s', 'public.jobs');
});
my $b = start_bridge($node, $r, '--slot', 's', '--tables', 'public.jobs',
	'--status-interval', '1', '--accept-new-source');

# DETACH CONCURRENTLY cancelled half way (an old snapshot holds it up)
detach_left_pending($node, 'jobs', 'jobs_old', 'DETACH CONCURRENTLY cancelled');

# a job inserted into the detach-pending partition: not one of public.jobs
$node->safe_psql('postgres',
	q{INSERT INTO jobs_old (queue, payload, created_at) VALUES ('q', '{"pending": true}', '2000-01-01 12:00+00')});
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"today": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers public.jobs only');
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
}
my $acted = $node->safe_psql('postgres',
	q{SELECT string_agg(action || ' ' || partition_name, ', ') FROM wal2queue.maintain_partitions('public.jobs') WHERE partition_name LIKE '%old%'});
note("maintain_partitions: $acted");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'jobs_old'}), '1',
	'the detach-pending partition with an undelivered job is kept');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('public.jobs') WHERE partition = 'jobs_old'::regclass AND detach_pending}),
	'1', 'partitions() lists it as detach-pending');
$node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs_old'), '1',
	'prune() of the job table leaves the detach-pending partition\'s row alone');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
