# Attack review 4: -X transactional.id without --kafka-transactions spins.
# librdkafka then makes a transactional producer, and every produce() before
# init_transactions() fails with "Local: Erroneous state".  The bridge takes
# that for a transient produce error (kafka_produce.c, the error to
# SINK_RETRY: "could not produce to kafka topic ..."), reconnects -- a new
# PostgreSQL walsender each time -- and since the sink connected fine
# (session.c:session_connect_sink() resets the sink backoff on every
# connect, not on a delivery) the backoff starts again at 0.1 s: about seven
# stream restarts a second, forever, nothing delivered, no exit.  Any
# produce error that persists (an ACL refusing the topic) spins the same way.  README: a bad command line exits (1 or 2);
# transient conditions are retried "with capped backoff (0.1 s to 10 s)";
# issue 11: an unusable configuration is "never a loop".
# Expected: the bridge refuses the property (or the combination) and exits,
# or at least backs off.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $node = new_node('ktxid');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_bridge($node, undef, '--sink', "kafka://$k->{bootstrap}", '--slot', 'tx', '--create-slot',
	'--tables', 'public.rj', '-X', 'transactional.id=orders');
wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'a' FROM generate_series(1, 10) g");
sleep 6;
my $stopped = !$b->{h}->pumpable;
my @retries = bridge_log($b) =~ /could not produce to kafka topic/g;
my @sessions = bridge_log($b) =~ /streaming slot "tx"/g;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . "; " . scalar(@retries) . " produce failures, "
	. scalar(@sessions) . " stream sessions in 6 s");
ok($stopped || @sessions <= 8, 'a transactional.id without --kafka-transactions is refused, or at least backed off');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
