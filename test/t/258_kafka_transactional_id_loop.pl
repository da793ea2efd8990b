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
# (261 proves the backoff).
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
stop_kafka_mock($k);
$node->stop;
done_testing();
