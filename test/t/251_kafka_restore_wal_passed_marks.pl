# Attack review 4, the Kafka variant of 250: a server rolled back to a
# file-level copy on the same timeline (same system identifier, timeline
# and slot) whose WAL has passed the partition marks before the bridge
# starts again (the application kept running: its jobs, then 8,000 rows
# of a table the bridge does not select).  206's check (a mark past the
# server's WAL end) passes, and its 10 new jobs, committed at LSNs below
# the partition's mark, were taken for delivered and skipped silently.
# Fix (bridge/kafka_history.c): a job skipped below a mark leaves a proof
# to see, the mark's transaction (its xid and commit_time headers) at the
# mark's LSN; the replay passes that LSN without it, so the bridge stops
# with exit 1 naming both, having acknowledged nothing it skipped: the
# slot stays where it was.  The way out, writing to new topics with
# --accept-new-source, delivers the restored server's jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use IPC::Run;

my $k = start_kafka_mock();
my $bootstrap = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.rj 1'), 'topic public.rj');
ok(kafka_mock_cmd($k, 'create r2.public.rj 1'), 'topic r2.public.rj');
sub count
{
	my ($topic, $fmt) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
		'-f', $fmt // '%o\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return $fmt ? $out : scalar(grep { /^\d+$/ } split /\n/, $out);
}

my $node = new_node('restore_kpassed');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
$node->safe_psql('postgres', 'CREATE TABLE other (id int, pad text)');
my @cmd = ('--sink', "kafka://$bootstrap", '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_streaming_bridge($node, undef, @cmd, '--create-slot');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { count('public.rj') == 10 }, 30), 'first jobs delivered') or diag(bridge_log($b));
stop_bridge($b);

# a cold file-level copy of the server (slot included)
cold_copy($node);
$b = start_streaming_bridge($node, undef, @cmd);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 5000) g");
ok(wait_until(sub { count('public.rj') == 5000 }, 60), 'more jobs delivered on the original');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
my $mark = count('public.rj', '%h\n');
my ($mark_xid) = $mark =~ /xid=(\d+)[^\n]*\n?\z/;
ok(defined $mark_xid, "the partition's last message carries its xid ($mark_xid)");

# the original is rolled back to the copy; the application goes on
restore_cold_copy($node);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 8000) g");
my $confirmed = slot_confirmed($node, 'sr');
$b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge stops by itself') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 1, 'with exit 1');
my $log = bridge_log($b);
like($log, qr/ERROR: kafka topic "public\.rj" partition 0 holds transaction xid $mark_xid committed \S+ at lsn [0-9A-F\/]+ of source \d+\/1\/postgres\/sr, but this server('s replay passed that lsn \(at [0-9A-F\/]+\) without it| presents xid \d+ committed \S+ there): the server was rolled back on the same timeline .*--target-prefix.*--accept-new-source/,
	'naming both and the way out') or diag($log);
is(count('public.rj'), 5000, 'nothing of the restored server was written');
is(slot_confirmed($node, 'sr'), $confirmed, 'and nothing it skipped confirmed: the slot stays where it was');

# the way out: new topics; --accept-new-source because the record's shape
# (the target prefix) changes over a replay
$b = start_bridge($node, undef, @cmd, '--target-prefix', 'r2.', '--accept-new-source');
sub restored
{
	return scalar(grep { /"src":"restored"/ } split /\n/, count('r2.public.rj', '%s\n'));
}
ok(wait_until(sub { restored() >= 10 }, 30),
	'with another --target-prefix and --accept-new-source the 10 jobs of the restored server arrive')
	or diag(bridge_log($b));
sleep 1;
is(restored(), 10, 'each once (at least once: what the copy\'s slot had not confirmed comes too)');
stop_bridge($b);
stop_kafka_mock($k);
$node->stop;
done_testing();
