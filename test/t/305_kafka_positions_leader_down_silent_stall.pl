# The positions topic's partition leader goes down while the job topics'
# brokers are up (two brokers; w2q.pos.305 led by broker 2, public.kjobs by
# broker 1).  The jobs keep arriving in Kafka, so consumers notice nothing,
# but the record cannot be written (message.timeout.ms=0 without
# transactions: librdkafka holds it for ever; kafka_record.c record_write
# waits for the one in flight) and the bridge confirms nothing past the
# record (bridge.c: min(acknowledged, recorded)): the slot silently stops
# confirming and keeps WAL until max_slot_wal_keep_size loses it.  Expected,
# within 30 s: the bridge says so (an ERROR or WARNING naming the positions
# topic, and a retry as docs/kafka.md "Errors" promises for a failed record
# write), or the slot confirms the new jobs.
# Fixed: a record write unanswered for 10 s is a retry, logged as a WARNING
# (kafka_record.c kafka_record_pump, RECORD_STALL_MS).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(2);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create w2q.pos.305 1') && kafka_mock_cmd($k, 'leader w2q.pos.305 0 2')
	&& kafka_mock_cmd($k, 'create public.kjobs 1') && kafka_mock_cmd($k, 'leader public.kjobs 0 1'),
	'positions topic on broker 2, job topic on broker 1');
my $node = new_node('pos_leader_down');
$node->safe_psql('postgres', q{CREATE TABLE kjobs (id int PRIMARY KEY, v text NOT NULL)});
my $b = start_bridge($node, undef, '--slot', 'pl', '--tables', 'public.kjobs', '--create-slot',
	'--sink', "kafka://$bs", '--kafka-positions-topic', 'w2q.pos.305', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pl"/ }, 60), 'streaming');
sub confirmed_past
{
	my ($lsn) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'pl'") eq 't';
}
sub delivered
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.kjobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return scalar grep { /\S/ } split /\n/, $out;
}
$node->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'a' FROM generate_series(1, 5) g});
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { confirmed_past($lsn) }, 60), 'the first jobs are confirmed');

ok(kafka_mock_cmd($k, 'down 2'), 'broker 2 (the positions topic) is down');
my $mark = length(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'b' FROM generate_series(6, 10) g});
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { delivered() == 10 }, 30), 'the new jobs arrive in Kafka');
my $said = '';
ok(wait_until(sub {
	$said = join("\n", grep { /(ERROR|WARNING).*(w2q\.pos\.305|position record)/ } split /\n/,
		substr(bridge_log($b), $mark));
	$said ne '' || confirmed_past($lsn);
}, 30), 'within 30 s the bridge reports the unwritable record, or confirms');
diag('confirmed ' . $node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'pl'})
	. " (wanted $lsn); bridge said: " . ($said || 'nothing') . "; its other warnings:\n"
	. join("\n", grep { /ERROR|WARNING/ } split /\n/, substr(bridge_log($b), $mark)));
stop_bridge($b, 'KILL');
stop_kafka_mock($k);
done_testing();
