# test/t/398 for Kafka: the backfill's creation marker is recorded on the
# state topic before CREATE_REPLICATION_SLOT, and a state topic's message
# cannot be taken back, so when the creation then fails for good the
# marker stays, and the bridge says so (bridge/backfill_marker.c):
# - max_replication_slots reached: exit 1 naming the server's error, "no
#   slot was created", the marker left in kafka and the exact command that
#   removes it; a start without --backfill is refused saying the backfill
#   was never started (the slot was not created), naming the command line
#   with --backfill and that command; once a slot is free the same command
#   line backfills, every row once;
# - the name taken by another client between the marker and the creation
#   (a test_decoding slot): exit 1 saying so; the same command line then
#   finds the marker beside a slot of another plugin and refuses it,
#   naming the marker and how to remove it (it used to log that it was
#   dropping the slot as its own, then stream_drop_slot refused to drop
#   another plugin's slot, with no word of the marker); the same for a
#   slot of this plugin in another database.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfmarkfailk', conf => "max_replication_slots = 3\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 20) g;
	SELECT pg_create_logical_replication_slot('filler' || g, 'test_decoding') FROM generate_series(1, 3) g;
});
my @base = ('-d', $node->connstr('postgres'), '--sink', "kafka://$bs", '--tables', 'public.jobs',
	'--create-slot', '--status-interval', '1');
sub cmd { my ($slot) = @_; return (@base, '--slot', $slot, '--target-prefix', "$slot.", '--backfill') }
sub slots { return $node->safe_psql('postgres', 'SELECT string_agg(slot_name || \'/\' || plugin, \' \' ORDER BY 1) FROM pg_replication_slots') }
my $removal = qr/kafka-topics\.sh --bootstrap-server \Q$bs\E --delete --topic 's\.wal2queue-backfill\.s'/;

# 1. every slot in use
my ($code, $out) = run_bridge(cmd('s'));
is($code, 1, 'slots full: exit 1');
like($out, qr/ERROR.*could not create replication slot "s" for the backfill: [^\n]*all replication slots are in use[^\n]*; no slot was created; the creation marker this run recorded is left in kafka: the same command line creates the slot and backfills once a slot can be created, and a start without --backfill refuses it until then; to give the backfill up remove it with: $removal/,
	'it names the cause, that no slot was created, the marker left and how to remove it') or diag($out);
is(slots(), 'filler1/test_decoding filler2/test_decoding filler3/test_decoding', 'no slot was created');

my @plain = grep { $_ ne '--backfill' } cmd('s');
($code, $out) = run_bridge(@plain);
is($code, 1, 'a start without --backfill: exit 1');
like($out, qr/the backfill of replication slot "s" was never started: kafka holds its creation marker \(condition "", no row delivered\) but the slot was not created/,
	'it says the backfill was never started and why') or diag($out);
like($out, qr/either start the backfill with: \S*wal2queue-bridge .*--slot s .*--backfill; or give it up by removing the marker with: $removal$/m,
	'naming the command line with --backfill and the exact removal command') or diag($out);

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler1')});
my $br = start_bridge($node, undef, cmd('s'));
ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "s" done: 20 rows/ || !$br->{h}->pumpable }, 60),
	'once a slot is free the same command line backfills') or diag(bridge_log($br));
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'new' FROM generate_series(21, 25) g});
my %seen;
wait_until(sub {
	my $err = '';
	$out = '';
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 's.public.jobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	# every row: the mock's 4 partitions are read to their ends one by one
	my %has = map { $_ => 1 } grep { /\S/ } split /\n/, $out;
	!grep { !$has{$_} } 1 .. 25;
}, 60);
$seen{$_}++ for grep { /\S/ } split /\n/, $out;
my @bad = grep { ($seen{$_} // 0) != 1 } 1 .. 25;
ok(!@bad, 'rows 1..25 each once') or diag("not once: @bad");
stop_bridge($br);

# 2. the name taken between the marker and the creation
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler2')});
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'marker';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 4;
	$br = start_bridge($node, undef, cmd('t'));
}
ok(wait_until(sub { bridge_log($br) =~ /paused at "marker"/ }, 30), 'the bridge recorded the marker');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('t', 'test_decoding')});
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'the bridge stopped');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($br), qr/could not create replication slot "t" for the backfill: [^\n]*already exists[^\n]*; a slot of that name was created meanwhile by another client \(plugin test_decoding\): it is not this backfill's and the bridge leaves it alone; the creation marker this run recorded is left in kafka: while that slot exists the same command line would take it for the one the marker was recorded for [^\n]*remove the marker before any start with this slot name, with: kafka-topics\.sh --bootstrap-server \Q$bs\E --delete --topic 't\.wal2queue-backfill\.t'/,
	'it says the name was taken by another client and the marker left') or diag(bridge_log($br));
($code, $out) = run_bridge(cmd('t'));
is($code, 1, 'the same command line: exit 1');
like($out, qr/replication slot "t" uses output plugin "test_decoding", not "wal2queue": it is not the slot the unfinished backfill's creation marker in kafka was recorded for .*removing the marker with: kafka-topics\.sh/,
	'refusing the slot as not its own') or diag($out);
like(slots(), qr{\bt/test_decoding\b}, 'the other client\'s slot is left alone');

# 3. the same, with a slot of this plugin in another database
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler3')});
$node->safe_psql('postgres', 'CREATE DATABASE other');
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'marker';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 4;
	$br = start_bridge($node, undef, cmd('v'));
}
ok(wait_until(sub { bridge_log($br) =~ /paused at "marker"/ }, 30), 'v: the bridge recorded the marker');
$node->safe_psql('other', q{SELECT pg_create_logical_replication_slot('v', 'wal2queue')});
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'v: the bridge stopped');
$br->{h}->finish;
like(bridge_log($br), qr/a slot of that name was created meanwhile by another client \(plugin wal2queue\)/,
	'v: it says the name was taken') or diag(bridge_log($br));
($code, $out) = run_bridge(cmd('v'));
is($code, 1, 'v: the same command line: exit 1');
like($out, qr/replication slot "v" belongs to database "other", not "postgres": it is not the slot the unfinished backfill's creation marker in kafka was recorded for/,
	'refusing the slot of another database as not its own') or diag($out);
like(slots(), qr{\bv/wal2queue\b}, 'and leaving it alone');

stop_kafka_mock($k);
$node->stop;
done_testing();
