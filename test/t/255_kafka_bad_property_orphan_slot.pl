# Attack review 4: a mistyped Kafka command line leaves a slot behind.
# README: "--tables is checked before anything is created, and a slot the
# server refuses to stream from right after the bridge created it ... is
# dropped again, so a mistyped command line leaves no slot behind."  -X
# properties that librdkafka refuses only together (acks=1 with its default
# enable.idempotence=true, max.in.flight=20, retries=0,
# enable.idempotence=false without enable.gapless.guarantee=false) pass the
# per-property check and fail in rd_kafka_new(), which the Kafka sink calls
# after the stream opened: the bridge exits 1 ("could not create the kafka
# producer") but the slot it just created stays, inactive, holding WAL
# (and prune() with it) until someone drops it.  Expected: no slot left.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $node = new_node('kx_orphan');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "kafka://$k->{bootstrap}",
	'--slot', 'typo', '--create-slot', '--tables', 'public.rj', '-X', 'acks=1');
diag($out);
is($rc, 1, 'the bridge exits 1');
like($out, qr/acks/, 'naming the property');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'typo'"), '0',
	'no slot left behind by the mistyped command line');
stop_kafka_mock($k);
$node->stop;
done_testing();
