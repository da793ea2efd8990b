# What: the Kafka cluster behind --sink lost what it had acknowledged (a
# cluster rebuilt or restored empty, topics deleted and re-created, a DNS
# name now pointing at a fresh cluster: here a new, empty cluster at the
# same command line's place).  The restarted bridge finds no position
# record and no marks, logs the missing record at DEBUG level only, and
# streams on from the slot: the jobs the lost cluster held are gone for
# good, nothing says so, and the slot keeps being confirmed.
# Why: bridge/kafka_record.c record_apply()/record_collect(): a record not
# found "vouches for nothing" (attestation only) and the session goes on;
# no Kafka counterpart of the Redis NORECORD check (redis_progress.c: "Redis
# holds no progress record ... but slot has confirmed positions up to ...:
# Redis lost its data") exists, although README's summary promises that
# "a sink that lost data is refused loudly" (the Guarantees line names
# Redis only; docs/kafka.md's record table, "none (a new slot, a cluster
# without the topic's old messages) | not vouched for", accepts it).
# Expected: as with Redis, a Kafka sink that holds no record of a slot
# whose confirmed position is past where it was created (it delivered
# before) stops the bridge with exit 1 naming the slot's position and the
# likely cause, until --accept-new-source.
# Severity: medium-low (loss of everything the cluster held goes unnoticed
# by the bridge; the promise is in the README's first paragraph, while
# docs/kafka.md Limits admits the sink cannot tell acknowledged messages
# Kafka lost -- a record missing for a slot that delivered is, as Redis
# shows, detectable).
# Fixed: bridge/slot.c slot_check_delivered() finds positive evidence that
# the slot delivered before (past where the extension's registry registered
# it; without a registry row, transactions it decoded for a client in
# pg_stat_replication_slots), session.c passes it as SINK_REPLAY_DELIVERED,
# and kafka_record.c record_none() refuses a missing record then (exit 1
# naming the slot, its position and the likely causes), unless the bridge
# created the slot or --accept-new-source (then it streams on, test below).
# Control: W2Q_ATTACK_CONTROL=1 restarts against the same cluster: it
# streams on (nothing lost, nothing to refuse).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $f = kafka_confirmed_fixture('klost', 'kl', 'lj', rows => 'SELECT generate_series(1, 3)',
	delivered => 'jobs 1-3 delivered and confirmed');
my ($k, $node, $b) = @$f{qw(k node b)};
my @cmd = ('--slot', 'kl', @{ $f->{cmd} });
is(scalar(kafka_messages($k->{bootstrap}, 'public.lj')), 3, 'the cluster holds them');

my $k2 = $k;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	stop_kafka_mock($k);
	$k2 = start_kafka_mock(1);		# the cluster lost everything
}
$b = start_bridge($node, undef, @cmd, '--sink', "kafka://$k2->{bootstrap}");
ok(wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /streaming slot "kl"/ }, 60), 'started');
$node->safe_psql('postgres', 'INSERT INTO lj VALUES (4)');
sleep 5;
my $n = () = kafka_messages($k2->{bootstrap}, 'public.lj');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	ok($b->{h}->pumpable && $n == 4, "control: the same cluster, job 4 delivered ($n jobs)");
}
else
{
	ok(!$b->{h}->pumpable, 'the bridge stops: the sink holds nothing of a slot that delivered')
	  or diag("the empty cluster now holds $n jobs (1-3 are gone); the bridge's log:\n" . bridge_log($b));
	like(bridge_log($b), qr/ERROR: .*no position record of slot "kl".*confirmed positions up to [0-9A-F]+\/[0-9A-F]+: the Kafka cluster lost its data/,
		'and says the sink lost its data, naming the slot and its position');
	like(bridge_log($b), qr/--accept-new-source/, 'and the way out');
	if ($b->{h}->pumpable)
	{
		fail('exit status 1');
		$b->{h}->kill_kill;
	}
	else
	{
		$b->{h}->finish;
		is($b->{h}->result, 1, 'exit status 1');
	}

	# the operator accepts the loss: the bridge streams on from the slot
	$b = start_bridge($node, undef, @cmd, '--sink', "kafka://$k2->{bootstrap}", '--accept-new-source');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "kl"/ }, 60), '--accept-new-source: streaming');
	$node->safe_psql('postgres', 'INSERT INTO lj VALUES (5)');
	ok(wait_until(sub { scalar(kafka_messages($k2->{bootstrap}, 'public.lj')) == 2 }, 60),
		'jobs 4 and 5 delivered into the new cluster')
	  or diag(bridge_log($b));
	like(bridge_log($b), qr/WARNING: .*no position record of slot "kl".*--accept-new-source/,
		'with a warning');
	stop_bridge($b);

	# the record is there now: a plain restart streams on
	$b = start_bridge($node, undef, @cmd, '--sink', "kafka://$k2->{bootstrap}");
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "kl"/ }, 60), 'then a plain restart streams');
	$node->safe_psql('postgres', 'INSERT INTO lj VALUES (6)');
	ok(wait_until(sub { scalar(kafka_messages($k2->{bootstrap}, 'public.lj')) == 3 }, 60),
		'job 6 delivered');
}
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k2);
$node->stop;
registry_evidence() unless $ENV{W2Q_ATTACK_CONTROL};
done_testing();

# With the extension, its registry decides: a slot past where it was
# registered delivered before (the server's statistics reset, so only the
# registry can tell); one still there did not, though it decoded for a client.
sub registry_evidence
{
	my $f = kafka_confirmed_fixture('kreg', 'rg', 'rj', extension => 1, rows => 'VALUES (1)',
		label => 'registry: ', delivered => 'job 1 delivered and confirmed');
	my ($k, $node, $b) = @$f{qw(k node b)};
	my @cmd = @{ $f->{cmd} };
	$node->safe_psql('postgres', "SELECT pg_stat_reset_replication_slot('rg')");
	is($node->safe_psql('postgres', "SELECT total_txns FROM pg_stat_replication_slots WHERE slot_name = 'rg'"),
		'0', 'registry: the statistics say nothing');
	stop_kafka_mock($k);
	$k = start_kafka_mock(1);
	$b = start_bridge($node, undef, @cmd, '--slot', 'rg', '--sink', "kafka://$k->{bootstrap}");
	ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'registry: a slot past where it was registered is refused')
	  or $b->{h}->kill_kill;
	like(bridge_log($b), qr/ERROR: .*no position record of slot "rg"/, 'registry: and says why');

	# registered by wal2queue.create_slot(), decoded (peeked) but never confirmed
	$node->safe_psql('postgres', "SELECT wal2queue.create_slot('rf', 'public.rj')");
	$node->safe_psql('postgres', 'INSERT INTO rj VALUES (2)');
	$node->safe_psql('postgres', "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('rf', NULL, NULL)");
	cmp_ok($node->safe_psql('postgres', "SELECT total_txns FROM pg_stat_replication_slots WHERE slot_name = 'rf'"),
		'>', 0, 'registry: the fresh slot decoded for a client');
	$b = start_bridge($node, undef, @cmd, '--slot', 'rf', '--sink', "kafka://$k->{bootstrap}");
	ok(wait_until(sub { scalar(kafka_messages($k->{bootstrap}, 'public.rj')) == 1 }, 60),
		'registry: a slot still where it was registered streams without --accept-new-source')
	  or diag(bridge_log($b));
	stop_bridge($b);
	stop_kafka_mock($k);
	$node->stop;
}
