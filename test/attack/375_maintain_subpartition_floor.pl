# Attack review 11: maintain_partitions() drops an old partition that is
# itself partitioned using ITS guard floor for the rows of its
# sub-partitions, whose own floors may be higher.  maintain_partitions()
# (sql/src/40_job_tables.sql) takes leaf_floor(part) of the direct
# partition and checks "SELECT ... FROM part t" (every sub-partition) with
# it; its comment says "a partitioned old partition ... is kept", but
# nothing does that.  prune() works leaf by leaf (job_leaves(), each with
# its own floor) and keeps the row; maintain_partitions() drops it.
# Here a row is inserted into a sub-partition of an old daily partition
# before the slot exists (never delivered); later its guard is disabled
# for an UPDATE (a payload fixed by hand) and enabled again, with the event
# triggers on: the sub-partition's floor moves past the UPDATE (prune()
# keeps the row, as the rule says), the partitioned partition's record
# does not change, the row's new xmin is above its old floor, and
# maintain_partitions() DROPs the partition with the row no slot delivered.
# Expected: the partition is kept (a partitioned old partition kept, as the
# comment says, or judged leaf by leaf with each leaf's floor).
# Severity: high (an undelivered job deleted without force); needs
# sub-partitioned daily partitions.
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
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
