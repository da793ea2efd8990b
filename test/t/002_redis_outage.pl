# Redis unreachable at start and mid-stream: the bridge keeps running,
# retries with backoff (one log line per retry, not per job), confirms
# nothing Redis did not acknowledge, keeps the walsender from timing out,
# and resumes when Redis returns: nothing lost, nothing doubled.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('outage', conf => "wal_sender_timeout = 4s\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my $port = free_port();
my $aof = ['--appendonly', 'yes', '--appendfsync', 'always'];
my $rdir = PostgreSQL::Test::Utils::tempdir();

sub insert_batches
{
	my ($from, $n, $per) = @_;
	for (my $i = 0; $i < $n; $i++)
	{
		my $lo = $from + $i * $per;
		my $hi = $lo + $per - 1;
		$node->safe_psql('postgres',
			"INSERT INTO jobs SELECT g, 'job ' || g FROM generate_series($lo, $hi) g");
	}
}

# Redis is not there yet
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $b = start_bridge($node, { port => $port }, '--slot', 'jobs', '--status-interval', '1',
	'--accept-new-source');
insert_batches(1, 10, 100);
sleep 3;
my $log = bridge_log($b);
like($log, qr/could not connect to Redis/, 'Redis down at start: said');
ok($b->{h}->pumpable, 'the bridge keeps running');
is($node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn <= '$lsn0' FROM pg_replication_slots WHERE slot_name = 'jobs'"),
	't', 'nothing confirmed while Redis is down');

my $r = start_redis(port => $port, dir => $rdir, args => $aof);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1000' }), 'Redis up: the backlog arrives');

# mid-stream: Redis dies while jobs keep coming, for longer than wal_sender_timeout
insert_batches(1001, 5, 100);
stop_redis($r, 'KILL');
insert_batches(1501, 20, 100);
sleep 8;
ok($b->{h}->pumpable, 'the bridge survives the outage');
$r = start_redis(port => $port, dir => $rdir, args => $aof);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '3500' }), 'Redis back: every job arrives');

my $e = stream_entries($r, 'public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(keys %seen), 3500, 'nothing lost');
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'nothing doubled');

$log = bridge_log($b);
my $retries = () = $log =~ /could not connect to Redis|lost connection to Redis/g;
ok($retries >= 2 && $retries < 40, "one log line per retry ($retries), not per job");
unlike(slurp_file($node->logfile), qr/terminating walsender process due to replication timeout/,
	'the walsender never timed out');

my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 't' }),
	'confirmation catches up');
is(stop_bridge($b) >> 8, 0, 'clean stop');
stop_redis($r);
$node->stop;
done_testing();
