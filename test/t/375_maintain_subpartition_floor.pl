# Fixed (was test/attack, review 11): maintain_partitions() judged an old
# partition that is itself partitioned with ITS guard floor for the rows of
# its sub-partitions, whose own floors may be higher, and dropped a row no
# slot delivered that prune() keeps; the same path dropped a detach-pending
# SUB-partition unseen (SELECT ... FROM jobs_old does not see its rows,
# DROP TABLE jobs_old drops it).  Now maintain_partitions() drops an old
# partition only if prune() would delete every row of every leaf below it:
# wal2queue.partition_pending() (sql/src/40_job_tables.sql) walks
# job_leaves() of the partition, each leaf with its own guard floor and
# claim-check floor, and keeps the partition when anything below it is
# detach-pending or an inheritance child that is not a partition.
# Case 1: a row inserted into a sub-partition of an old daily partition
# before the slot existed (never delivered), later updated by hand with its
# guard off and on again (event triggers on): the sub-partition's floor
# moves past the UPDATE, the partitioned partition's record does not; the
# partition is kept.  Case 2: a sub-partition of another old partition whose
# DETACH ... CONCURRENTLY was cancelled, holding a row inserted afterwards
# (reported under its own name, so never delivered by the slot of
# public.jobs): kept.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_subpart');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	-- an old day split in two halves
	CREATE TABLE jobs_old PARTITION OF jobs FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-02 00:00+00')
	    PARTITION BY RANGE (created_at);
	CREATE TABLE jobs_old_a PARTITION OF jobs_old FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-01 12:00+00');
	CREATE TABLE jobs_old_b PARTITION OF jobs_old FOR VALUES FROM ('2020-01-01 12:00+00') TO ('2020-01-02 00:00+00');
	-- before any slot: never delivered
	INSERT INTO jobs (queue, payload, created_at) VALUES ('a', '{"n": 1}', '2020-01-01 10:00+00');
	-- the next old day, also split, for case 2
	CREATE TABLE jobs_old2 PARTITION OF jobs FOR VALUES FROM ('2020-01-02 00:00+00') TO ('2020-01-03 00:00+00')
	    PARTITION BY RANGE (created_at);
	CREATE TABLE jobs_old2_a PARTITION OF jobs_old2 FOR VALUES FROM ('2020-01-02 00:00+00') TO ('2020-01-02 12:00+00');
	CREATE TABLE jobs_old2_b PARTITION OF jobs_old2 FOR VALUES FROM ('2020-01-02 12:00+00') TO ('2020-01-03 00:00+00');
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
# the payload fixed by hand with the guard off, then the guard back on
# (W2Q_ATTACK_CONTROL=1 leaves the UPDATE out: the row keeps its old xmin)
$node->safe_psql('postgres', q{
	ALTER TABLE jobs_old_a DISABLE TRIGGER wal2queue_append_only;
	UPDATE jobs_old_a SET payload = '{"n": 2}';
	ALTER TABLE jobs_old_a ENABLE ALWAYS TRIGGER wal2queue_append_only;
}) unless $ENV{W2Q_ATTACK_CONTROL};
# case 2: DETACH CONCURRENTLY of a sub-partition cancelled half way (an old
# snapshot holds it up), then a row inserted into it: the plugin reports it
# as public.jobs_old2_a, which the slot does not select
detach_left_pending($node, 'jobs_old2', 'jobs_old2_a', 'DETACH CONCURRENTLY of the sub-partition cancelled');
$node->safe_psql('postgres',
	q{INSERT INTO jobs_old2_a (queue, payload, created_at) VALUES ('p', '{"pending": true}', '2020-01-02 06:00+00')});
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('b', '{}')});
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'jobs', 10);
}
diag('guard floors: ' . $node->safe_psql('postgres', q{
	SELECT string_agg(relid::regclass || '=' || xmin, ' ' ORDER BY relid) FROM wal2queue.guard_events
	 WHERE relid IN ('jobs_old'::regclass, 'jobs_old_a'::regclass)})
	. '; the row: ' . $node->safe_psql('postgres', q{SELECT xmin FROM jobs_old_a}));
is($node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')") >= 0 ? 1 : 0, 1, 'prune() runs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs_old_a'), '1',
	'prune() keeps the row no slot delivered');
my $acts = $node->safe_psql('postgres',
	"SELECT string_agg(action || ' ' || partition_name, ', ') FROM wal2queue.maintain_partitions('public.jobs')");
diag("maintain_partitions: $acts");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'jobs_old_a'"), '1',
	'maintain_partitions() keeps the partition holding the row no slot delivered');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname IN ('jobs_old2', 'jobs_old2_a')"), '2',
	'maintain_partitions() keeps the partition above a detach-pending sub-partition');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs_old2_a'), '1',
	'the detach-pending sub-partition keeps its row');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
