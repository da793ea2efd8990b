# Attack review 4: a mistyped Kafka command line left a slot behind.
# README: "--tables is checked before anything is created, and a slot the
# server refuses to stream from right after the bridge created it ... is
# dropped again, so a mistyped command line leaves no slot behind."  -X
# properties that librdkafka refuses only together (acks=1 with its default
# enable.idempotence=true, max.in.flight=20, retries=0,
# enable.idempotence=false without enable.gapless.guarantee=false) passed
# the per-property check and failed in rd_kafka_new(), which the Kafka sink
# called after the stream opened: the bridge exited 1 ("could not create
# the kafka producer") but the slot it had just created stayed, inactive,
# holding WAL (and prune() with it) until someone dropped it.  Likewise a
# --target-prefix no topic (Kafka) or stream key (Redis: one of the keys the
# bridge keeps for itself) can begin was accepted at start, and the first
# job stopped the bridge, at every restart.
# Fixed: kafka_conf.c:sink_kafka_check() creates a trial producer and
# consumer from exactly the configuration the sink will use, and checks the
# prefix by the topic rule of every job (kafka_topic_unusable); main.c
# checks a Redis prefix by redis_reserved_key(); each before anything is
# created: exit 2 naming the property (with the defaults it met) or the
# prefix, and no slot.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $r = start_redis();
my $node = new_node('kx_orphan');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $nslots = sub { $node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots") };
my @kafka = ('-d', $node->connstr('postgres'), '--sink', "kafka://$k->{bootstrap}",
	'--slot', 'typo', '--create-slot', '--tables', 'public.rj');

my ($rc, $out) = run_bridge(@kafka, '-X', 'acks=1');
diag($out);
is($rc, 2, 'a combination librdkafka refuses is a usage error (exit 2)');
like($out, qr/could not create the kafka producer: `acks` must be set to `all` when `enable.idempotence` is true; hint: the bridge sets acks=all, enable.idempotence=true/,
	'naming the property and the defaults it met');
is($nslots->(), '0', 'no slot left behind by the mistyped command line');

for my $x ('max.in.flight=20', 'enable.idempotence=false', 'no.such.property=1')
{
	($rc, $out) = run_bridge(@kafka, '-X', $x);
	is($rc, 2, "-X $x: exit 2");
	my ($key) = $x =~ /^([^=]+)/;
	like($out, qr/\Q$key\E/, "-X $x: the property is named");
	is($nslots->(), '0', "-X $x: no slot");
}

($rc, $out) = run_bridge(@kafka, '--target-prefix', 'bad prefix/');
is($rc, 2, 'a Kafka --target-prefix no topic can begin with: exit 2');
like($out, qr/invalid value for --target-prefix "bad prefix\/": every kafka topic begins with it, and a kafka topic name has only letters/,
	'the prefix and the rule are named');
is($nslots->(), '0', 'no slot');

($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 'typo', '--create-slot', '--tables', 'public.rj', '--target-prefix', 'wal2queue:progress:');
is($rc, 2, 'a Redis --target-prefix inside the bridge\'s own keys: exit 2');
like($out, qr/invalid value for --target-prefix "wal2queue:progress:": every stream key begins with it/,
	'the prefix is named');
is($nslots->(), '0', 'no slot');

# what the check accepts still runs: -X that go together, a usable prefix
my $b = start_bridge($node, undef, @kafka, '--target-prefix', 'app.',
	'-X', 'acks=1', '-X', 'enable.idempotence=false', '-X', 'enable.gapless.guarantee=false');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "typo"/ }, 30), 'a consistent -X combination streams');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k);
stop_redis($r);
$node->stop;
done_testing();
