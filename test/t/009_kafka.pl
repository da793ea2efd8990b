# The Kafka sink end to end, against librdkafka's mock cluster (real Kafka
# protocol on loopback) with kcat as the independent consumer: keys,
# values, headers (source among them), the Java client's partitioner,
# broker outages, kill -9 of the bridge several times and the walsender
# terminated several times under load (every job exactly once, every
# partition in order: case 1 of issue 10), a job too large for the broker, an empty
# route target and a second slot writing the same topic (errors naming the
# job or both sources; nothing confirmed past them).
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $kafka = start_kafka_mock();
my $bootstrap = $kafka->{bootstrap};
sub mock_cmd { return kafka_mock_cmd($kafka, @_) }
ok(mock_cmd('create public.jobs 4'), "mock cluster at $bootstrap, topic with 4 partitions");

# Kafka's murmur2 (the Java client's DefaultPartitioner), to check partitions independently
sub mul32 { my ($a, $b) = @_; return (($a * ($b & 0xffff)) + ((($a * ($b >> 16)) & 0xffff) << 16)) & 0xffffffff }
sub murmur2
{
	my @b = unpack('C*', $_[0]);
	my $len = @b;
	my $m = 0x5bd1e995;
	my $h = (0x9747b28c ^ $len) & 0xffffffff;
	for (my $i = 0; $i + 4 <= $len; $i += 4)
	{
		my $k = $b[$i] | ($b[ $i + 1 ] << 8) | ($b[ $i + 2 ] << 16) | ($b[ $i + 3 ] << 24);
		$k = mul32($k, $m);
		$k ^= $k >> 24;
		$k = mul32($k, $m);
		$h = mul32($h, $m) ^ $k;
	}
	my $t = $len & ~3;
	my $rem = $len % 4;
	$h ^= $b[ $t + 2 ] << 16 if $rem == 3;
	$h ^= $b[ $t + 1 ] << 8 if $rem >= 2;
	if ($rem >= 1) { $h ^= $b[$t]; $h = mul32($h, $m); }
	$h ^= $h >> 13;
	$h = mul32($h, $m);
	$h ^= $h >> 15;
	return $h;
}

# every message of a topic, as kcat sees it
sub consume
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}
sub headers { my @h = @{ $_[0]{headers} // [] }; my %h = @h; return \%h }

# jobs the slot has not confirmed, once its walsender is gone
sub unconfirmed
{
	my ($node, $slot) = @_;
	wait_until(sub { $node->safe_psql('postgres',
		"SELECT active_pid IS NULL FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't' }, 30);
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_logical_slot_peek_changes('$slot', NULL, NULL, 'format', 'json')");
}

my $node = new_node('kafka');
restrict_messages($node);
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, payload jsonb, ok bool, score float8);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my @sink = ('--sink', "kafka://$bootstrap");
my $b = start_bridge($node, undef, '--slot', 'jobs', '--status-interval', '1', @sink);
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs VALUES (1, 'emails', '{"to": "a@b.c"}', true, 'NaN');
	INSERT INTO jobs VALUES (2, 'sms', NULL, false, 1.5);
	INSERT INTO jobs VALUES (3, 'emails', '[1, 2]', NULL, NULL);
	SELECT pg_logical_emit_message(true, 'wal2queue:notices#k9', 'hello');
	COMMIT;
});
my $msgs;
ok(wait_until(sub { $msgs = consume('public.jobs'); @$msgs == 3 }, 30), 'three rows arrive in the topic');
my %by_key = map { $_->{key} => $_ } @$msgs;
is_deeply(decode_json($by_key{1}{payload}),
	{ id => 1, queue => 'emails', payload => { to => 'a@b.c' }, ok => JSON::PP::true, score => 'NaN' },
	'value: the row as JSON with the plugin typing');
is_deeply(decode_json($by_key{2}{payload}),
	{ id => 2, queue => 'sms', payload => undef, ok => JSON::PP::false, score => 1.5 }, 'NULL is null');
for my $k (1 .. 3)
{
	is($by_key{$k}{partition}, (murmur2("$k") & 0x7fffffff) % 4, "key $k: partition = murmur2(key) % 4");
}
my $h = headers($by_key{3});
like($h->{lsn}, qr{^[0-9A-F]+/[0-9A-F]+$}, 'header lsn');
is($h->{seq}, '2', 'header seq');
like($h->{xid}, qr/^\d+$/, 'header xid');
is($h->{table}, 'public.jobs', 'header table');
like($h->{commit_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'header commit_time (ISO 8601 UTC)');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
is($h->{source}, "$sysid/1/postgres/jobs", 'header source: sysid/timeline/dbname/slot');
my $n;
ok(wait_until(sub { $n = consume('notices'); @$n == 1 }, 30), 'the logical message arrives');
is($n->[0]{payload}, 'hello', 'its value is the payload');
is($n->[0]{key}, 'k9', 'its key is the message key');

# a broker outage mid-stream: nothing lost
ok(mock_cmd('down -1'), 'broker down');
$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'q', '{}' FROM generate_series(100, 599) g");
sleep 3;
ok($b->{h}->pumpable, 'the bridge waits for the broker');
ok(mock_cmd('up -1'), 'broker up');
ok(wait_until(sub { @{ consume('public.jobs') } == 503 }, 60), 'the jobs written during the outage arrive');

# kill -9 several times while 20,000 jobs stream
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..399 LOOP
	    INSERT INTO jobs SELECT g, 'bulk', jsonb_build_object('n', g) FROM generate_series(10000 + t * 50, 10000 + t * 50 + 49) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
for my $round (1 .. 3)
{
	sleep 1;
	$b->{h}->signal('KILL');
	$b->{h}->finish;
	$b = start_bridge($node, undef, '--slot', 'jobs', '--status-interval', '1', @sink);
}
my $all;
ok(wait_until(sub { $all = consume('public.jobs'); @$all >= 20503 }, 120), 'after three kill -9, every job arrives');
sleep 2;
$all = consume('public.jobs');
my %seen;
$seen{ $_->{key} }++ for @$all;
is(scalar(@$all), 20503, 'exactly as many messages as jobs');
is(scalar(keys %seen), 20503, 'every job exactly once');

# the walsender terminated four times while 10,000 jobs stream: the
# replays from the slot duplicate nothing and never step back in a partition
my ($lin, $lout, $lerr) = ('', '', '');
my $load = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', q{
	DO $$ BEGIN
	  FOR t IN 0..199 LOOP
	    INSERT INTO jobs SELECT g, 'wal', '{}' FROM generate_series(40000 + t * 50, 40000 + t * 50 + 49) g;
	    COMMIT;
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	END $$;
} ], \$lin, \$lout, \$lerr);
for my $round (1 .. 4)
{
	select(undef, undef, undef, 0.6);
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active_pid IS NOT NULL");
}
$load->finish;
ok(wait_until(sub { $all = consume('public.jobs'); @$all >= 30503 }, 120),
	'after four walsender terminations during the load, every job arrives');
sleep 2;
$all = consume('public.jobs');
%seen = ();
$seen{ $_->{key} }++ for @$all;
is(scalar(@$all), 30503, 'exactly as many messages as jobs (no duplicate from the replays)');
my $backwards = 0;
my %last;
for my $m (sort { $::a->{partition} <=> $::b->{partition} || $::a->{offset} <=> $::b->{offset} } @$all)
{
	my $hh = headers($m);
	my ($hi, $lo) = map { hex } split m{/}, $hh->{lsn};
	my $pos = sprintf('%08x%08x%010d', $hi, $lo, $hh->{seq});
	$backwards++ if defined $last{ $m->{partition} } && $pos le $last{ $m->{partition} };
	$last{ $m->{partition} } = $pos;
}
is($backwards, 0, 'every partition in (lsn, seq) order');
is(stop_bridge($b) >> 8, 0, 'SIGTERM: exit 0');


# a job larger than the broker takes: an error naming it, nothing confirmed past it
$b = start_bridge($node, undef, '--slot', 'jobs', '--status-interval', '1', @sink);
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (7, 'big', jsonb_build_object('blob', repeat('x', 2000000)))");
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge stops');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($b), qr/public\.jobs.*7.*[0-9A-F]+\/[0-9A-F]+/, 'the error names table, key and lsn');
is(unconfirmed($node, 'jobs'),
	'1', 'the big job is not confirmed');

# a route value that is no topic name: an error naming table, key and lsn,
# not a reconnect loop (an empty one, like NULL, leaves the default target)
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('routes', 'wal2queue')});
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (8, 'no topic', '{}')");
$b = start_bridge($node, undef, '--slot', 'routes', '--route-column', 'queue', @sink);
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'empty route target: the bridge stops');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($b), qr/table public\.jobs key 8 lsn [0-9A-F]+\/[0-9A-F]+ has no usable kafka topic "no topic"/,
	'the error names table, key and lsn');
is(unconfirmed($node, 'routes'),
	'1', 'the job is not confirmed');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('routes')});

# a second slot writing the same topic (case 5 of issue 10): refused loudly, never skipped
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('other', 'wal2queue')});
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (9, 'x', '{}')");
$b = start_bridge($node, undef, '--slot', 'other', @sink);
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'another slot on the same topic: the bridge stops');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($b), qr{another source: $sysid/1/postgres/jobs .*this bridge streams $sysid/1/postgres/other.*--accept-new-source},
	'the error names both sources and --accept-new-source');
is(unconfirmed($node, 'other'),
	'1', 'its job is not confirmed (not skipped)');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('other')});

# --kafka-transactions end to end: init_transactions once the slot is held,
# one Kafka transaction per PostgreSQL transaction, all of it confirmed
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('txn', 'wal2queue')});
$b = start_bridge($node, undef, '--slot', 'txn', '--kafka-transactions', '--target-prefix', 'tx.',
	'--status-interval', '1', @sink);
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..19 LOOP
	    INSERT INTO jobs SELECT g, 'tx', '{}' FROM generate_series(90000 + t * 10, 90000 + t * 10 + 9) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
ok(wait_until(sub { @{ consume('tx.public.jobs') } == 200 }, 60), 'transactions: 200 jobs arrive');
is(stop_bridge($b) >> 8, 0, 'transactions: SIGTERM, exit 0');
is(unconfirmed($node, 'txn'),
	'0', 'transactions: every job confirmed');
like(bridge_log($b), qr/^(?!.*fenced)/s, 'no producer fenced');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('txn')});

stop_kafka_mock($kafka);
$node->stop;
done_testing();
