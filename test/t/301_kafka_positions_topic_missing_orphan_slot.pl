# --create-slot with a --kafka-positions-topic the cluster does not have
# (a typo, on a cluster that creates no topics: the mock answers "unknown
# topic" for it, as 222 does for a job topic).  The bridge exits 1 naming
# the topic, as docs/kafka.md "Errors" says, but only after it created the
# slot: the slot stays behind and holds WAL for ever.  README: "a mistyped
# command line leaves no slot behind" (the -X and --target-prefix checks of
# 255 run before the slot is made; the positions topic is not checked
# there, kafka_conf.c sink_kafka_check, and the fatal record read
# (kafka_record_read.c rreq_partition) comes after the slot was created).
# Fixed: a fatal record verdict on a slot this run created sets
# new_slot_refused (kafka_record.c record_collect): bridge.c drops the slot.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('posmiss');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE kjobs (id int PRIMARY KEY, v text);
	SELECT wal2queue.append_only('kjobs');
});
my $kafka = start_kafka_mock();
ok(kafka_mock_cmd($kafka, 'topicerror w2q.positons 3'), 'the cluster has no topic w2q.positons');

my $b = start_bridge($node, undef, '--slot', 'pm', '--tables', 'public.kjobs', '--create-slot',
	'--sink', "kafka://$kafka->{bootstrap}", '--kafka-positions-topic', 'w2q.positons');
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge stops');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($b), qr/cannot use kafka topic "w2q\.positons" for the position records/,
	'naming the positions topic');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pm'}),
	'0', 'the mistyped command line left no slot behind');

# the same for a record the bridge refuses at once (this slot's record on
# another timeline), which the Redis sink drops its new slot for (260)
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my ($in, $out, $err) = ("{}\n", '', '');
IPC::Run::run([ 'kcat', '-b', $kafka->{bootstrap}, '-P', '-t', 'w2q.positions.301', '-k', "$sysid/postgres/pm2",
	'-X', 'topic.partitioner=murmur2_random', '-H', "source=$sysid/9/postgres/pm2", '-H', 'lsn=0/1' ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(30)) or die "kcat: $err";
$b = start_bridge($node, undef, '--slot', 'pm2', '--tables', 'public.kjobs', '--create-slot',
	'--sink', "kafka://$kafka->{bootstrap}", '--kafka-positions-topic', 'w2q.positions.301');
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge refusing another source stops');
like(bridge_log($b), qr/holds the position record of slot "pm2" for another source/, 'naming it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pm2'}),
	'0', 'and leaves no slot behind');

stop_kafka_mock($kafka);
done_testing();
