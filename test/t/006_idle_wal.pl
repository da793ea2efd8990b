# An idle job table must not hold back WAL while other tables are busy:
# with nothing in flight the bridge confirms keepalives' walEnd.  100 MB of
# other writes leave under 16 MB retained.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('idle');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	CREATE TABLE busy (id int, filler text);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs', '--status-interval', '1',
	'--accept-new-source');
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1, 'one job')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the job table streams');

my $start = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
for my $i (1 .. 14)
{
	$node->safe_psql('postgres',
		"INSERT INTO busy SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 25000) g");
}
my $written = $node->safe_psql('postgres', "SELECT pg_current_wal_lsn() - '$start'");
ok($written > 100_000_000, "other tables wrote $written bytes of WAL");

my $retained;
ok(wait_until(sub {
	$node->safe_psql('postgres', 'CHECKPOINT');
	$retained = $node->safe_psql('postgres',
		"SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = 'jobs'");
	$retained < 16 * 1024 * 1024 }, 60), "WAL retained by the slot: $retained bytes (< 16 MB)");
is(redis($r, 'XLEN', 'public.jobs'), '1', 'and no job from other tables');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
