# A slot lost to max_slot_wal_keep_size is an error that says what happened
# and how to recover, at start and at every reconnect; before that, the
# bridge exports wal_status and safe_wal_size so an alert can fire.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use W2QTest;

my $node = new_node('lost', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, pad text);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});

sub metrics
{
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or return '';
	print $s "GET /metrics HTTP/1.0\r\n\r\n";
	local $/;
	my $body = <$s>;
	return $body // '';
}

my $mport = free_port();
my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--metrics', "127.0.0.1:$mport",
	'--accept-new-source');
$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'x' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '10' }), 'streaming');
ok(wait_until(sub { metrics($mport) =~ /wal2queue_slot_wal_status\{slot="jobs",status="reserved"\} 1/ }, 20),
	'/metrics exports wal_status');
like(metrics($mport), qr/wal2queue_slot_safe_wal_size_bytes\{slot="jobs"\} \d+/, 'and safe_wal_size');
is(stop_bridge($b) >> 8, 0, 'stopped');

# the slot falls behind by more than max_slot_wal_keep_size, and a checkpoint removes its WAL
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, repeat('y', 1000) FROM generate_series($i * 10000, $i * 10000 + 999) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
$node->safe_psql('postgres', 'CHECKPOINT');
ok(wait_until(sub {
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 'lost'
	}, 30), 'the slot is lost');

my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'jobs',
	'--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'a lost slot: exit 1');
like($out, qr/replication slot "jobs" is lost: the server removed WAL it still needed \(max_slot_wal_keep_size\)/,
	'it says what happened');
like($out, qr/hint: \S*wal2queue-bridge -d .* --slot jobs .*--create-slot --recreate-lost-slot --backfill re-creates it/,
	'and the command that recovers');
is(redis($r, 'XLEN', 'public.jobs'), '10', 'nothing more was delivered');
stop_redis($r);
$node->stop;
done_testing();
