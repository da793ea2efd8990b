# Issue 13: a lost slot is "a clear error that says what happened and the
# exact recovery command" at start (test/t/016, 031, 460) "and on every
# reconnect".  Two bridges stream two slots (Redis and Kafka) and are
# stopped (SIGSTOP) while the slots fall behind by more than
# max_slot_wal_keep_size; the checkpoint invalidates the slots and ends
# their walsenders; woken up, each bridge reconnects, finds its slot lost
# and exits 1 naming what happened and the command that recovers, having
# delivered nothing past what it had.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $r = start_redis();
my $node = new_node('lostrecon', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, pad text);
	CREATE TABLE filler (id int, pad text);
});
my @common = ('--tables', 'public.jobs', '--create-slot', '--status-interval', '1');
my $rb = start_bridge($node, $r, '--slot', 'lr_r', @common);
my $kb = start_bridge($node, undef, '--slot', 'lr_k', @common, '--sink', "kafka://$bs");
sub kcount
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return scalar(grep { /\S/ } split /\n/, $out);
}
ok(wait_until(sub { bridge_log($rb) =~ /created replication slot/ && bridge_log($kb) =~ /created replication slot/ }, 30),
	'both bridges created their slots') or diag(bridge_log($rb) . bridge_log($kb));
$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'x' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '10' && kcount() == 10 }, 60), 'both stream');

$rb->{h}->signal('STOP');
$kb->{h}->signal('STOP');
$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'after' FROM generate_series(11, 20) g");
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO filler SELECT g, repeat('y', 1000) FROM generate_series(1, 1000) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
ok(wait_until(sub {
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE wal_status = 'lost'") eq '2'
	}, 60), 'both slots are lost while their bridges are stopped');
$rb->{h}->signal('CONT');
$kb->{h}->signal('CONT');

for my $x ([ 'redis', $rb, 'lr_r' ], [ 'kafka', $kb, 'lr_k' ])
{
	my ($name, $b, $slot) = @$x;
	ok(wait_until(sub { !$b->{h}->pumpable }, 60), "$name: the bridge stopped after it reconnected")
	  or diag(bridge_log($b));
	$b->{h}->finish;
	is($b->{h}->full_result(0) >> 8, 1, "$name: exit 1");
	like(bridge_log($b), qr/replication stream ended: [^\n]*; reconnecting in .*ERROR: replication slot "$slot" is lost/s,
		"$name: found at the reconnect");
	like(bridge_log($b), qr/ERROR: replication slot "$slot" is lost: the server removed WAL it still needed \(max_slot_wal_keep_size\)/,
		"$name: it says what happened") or diag(bridge_log($b));
	like(bridge_log($b), qr/hint: \S*wal2queue-bridge .*--slot $slot .*--recreate-lost-slot --backfill re-creates it/,
		"$name: and the command that recovers");
}
my $rn = redis($r, 'XLEN', 'public.jobs');
my $kn = kcount();
note("delivered: redis $rn, kafka $kn (10 before the stop; what the socket buffers held may follow)");
ok($rn <= 20 && $kn <= 20, 'nothing past what the slots had sent');
stop_kafka_mock($k);
stop_redis($r);
$node->stop;
done_testing();
