# Attack review 4: -X transactional.id without --kafka-transactions spun.
# librdkafka then makes a transactional producer, and every produce() before
# init_transactions() fails with "Local: Erroneous state".  The bridge took
# that for a transient produce error (kafka_produce.c, the error to
# SINK_RETRY: "could not produce to kafka topic ..."), reconnected -- a new
# PostgreSQL walsender each time -- and since the sink connected fine
# (session.c:session_connect_sink() reset the sink backoff on every
# connect, not on a delivery) the backoff started again at 0.1 s: about
# seven stream restarts a second, forever, nothing delivered, no exit.
# Fixed: kafka_conf.c:sink_kafka_check() refuses -X transactional.id
# without --kafka-transactions before anything is created (exit 2, with the
# hint), and the sink backoff starts over only after an acknowledged write
# (session.c:session_sink_acked; a Kafka position record, acknowledged
# without a broker, does not count): a topic that refuses every produce (an
# ACL) backs off, 0.1, 0.2, 0.4 ... s (261 proves the same for Redis, and
# the reset after a delivery).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $node = new_node('ktxid');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "kafka://$k->{bootstrap}",
	'--slot', 'tx', '--create-slot', '--tables', 'public.rj', '-X', 'transactional.id=orders');
diag($out);
is($rc, 2, 'a transactional.id without --kafka-transactions is a usage error');
like($out, qr/-X transactional\.id=orders needs --kafka-transactions: .*hint: add --kafka-transactions/,
	'the error names the property and the flag it needs');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots"), '0', 'and creates no slot');

# any produce error that persists: the retries back off
ok(kafka_mock_cmd($k, 'errors 0 29 100'), 'the broker refuses every produce (topic authorization failed)');
my $b = start_bridge($node, undef, '--sink', "kafka://$k->{bootstrap}", '--slot', 'kb', '--create-slot',
	'--tables', 'public.rj');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "kb"/ }, 30), 'streaming');
$node->safe_psql('postgres', "INSERT INTO rj VALUES (1, 'a')");
# wait for five retries (0.1 + 0.2 + 0.4 + 0.8 s of backoff, plus each
# session's start, slow under ASan on a loaded machine), not a fixed time
my $retries = sub { my @d = bridge_log($b) =~ /Topic authorization failed.*; reconnecting in ([0-9.]+) s/g; scalar @d };
wait_until(sub { $retries->() >= 5 || !$b->{h}->pumpable }, 60);
my @delays = bridge_log($b) =~ /Topic authorization failed.*; reconnecting in ([0-9.]+) s/g;
my $sessions = () = bridge_log($b) =~ /streaming slot "kb"/g;
diag("$sessions stream sessions for " . scalar(@delays) . " retries; retries after " . join(', ', @delays) . ' s');
ok($b->{h}->pumpable, 'a pause, not an exit')
	or diag('the bridge exited (wait status ' . (eval { $b->{h}->finish; $b->{h}->full_result(0) } // $@) . '): ' . bridge_log($b));
ok(@delays >= 4 && (grep { $delays[$_] <= $delays[$_ - 1] } 1 .. $#delays) == 0,
	'each retry is logged with its reason, and waits twice as long as the one before');
ok($sessions <= 9, 'the stream restarts with the sink, not every 0.1 s')
	or diag(bridge_log($b));
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k);

# a session's position record that the sink's record already holds is
# acknowledged without the broker: that is no delivery either, the backoff
# still doubles (session.c:session_sink_acked)
my $k2 = start_kafka_mock(1);
my @kp = ('--sink', "kafka://$k2->{bootstrap}", '--slot', 'kp', '--create-slot', '--tables', 'public.rj');
$b = start_bridge($node, undef, @kp);
$node->safe_psql('postgres', "INSERT INTO rj VALUES (2, 'b')");
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'kp'") eq 't' }, 30),
	'a second broker: a job delivered, the position recorded') or diag(bridge_log($b));
stop_bridge($b);
ok(kafka_mock_cmd($k2, 'errors 0 29 100'), 'then it refuses every produce');
$b = start_bridge($node, undef, @kp);
$node->safe_psql('postgres', "INSERT INTO rj VALUES (3, 'c')");
wait_until(sub { $retries->() >= 5 || !$b->{h}->pumpable }, 60);
@delays = bridge_log($b) =~ /Topic authorization failed.*; reconnecting in ([0-9.]+) s/g;
diag('the record holds the start position, produces refused: retries after ' . join(', ', @delays) . ' s');
ok(@delays >= 4 && (grep { $delays[$_] <= $delays[$_ - 1] } 1 .. $#delays) == 0,
	'a position record acknowledged at each session start does not reset the backoff')
	or diag(bridge_log($b));
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k2);
$node->stop;
done_testing();
