# A later request's success is no evidence for an earlier one (the loss of
# the "kafka leader change" fault cell, test/attack/README.md).  Two
# Produce requests of one partition in flight at once (the broker answers
# 2 s late); the broker refuses the first (NOT_LEADER_FOR_PARTITION, as
# while a leader moves) and appends the second: librdkafka's mock checks
# idempotent sequence numbers only for transactional producers (a real
# broker refuses the second with OUT_OF_ORDER_SEQUENCE_NUMBER).  librdkafka
# then reports the first request's job delivered, "implicitly acked", with
# no offset.  Before the fix the bridge acknowledged it, confirmed it to
# PostgreSQL, and the job was lost.
# Fixed: such a report acknowledges nothing and fails the session; the next
# one reads the partition back from where the job would have landed and
# sends only the jobs not there (bridge/kafka_suspects.c): each job once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.kjobs 1'), 'a topic of one partition');
my $node = new_node('implicit_ack');
$node->safe_psql('postgres', q{CREATE TABLE kjobs (id int PRIMARY KEY, v text NOT NULL)});
my $b = start_bridge($node, undef, '--slot', 'ia', '--tables', 'public.kjobs', '--create-slot',
	'--sink', "kafka://$bs", '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "ia"/ }, 60), 'streaming');

sub confirmed_past
{
	my ($lsn) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ia'") eq 't';
}

# the ids in the topic, in offset order
sub ids
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.kjobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return [ grep { /\S/ } split /\n/, $out ];
}

$node->safe_psql('postgres', q{INSERT INTO kjobs VALUES (1, 'first')});
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { confirmed_past($lsn) }, 60), 'a first job is confirmed (the marks are read)');

# the interleaving: request of job 2 refused, request of job 3 appended
# (600 ms apart: two requests, not one batch, even on a loaded machine)
ok(kafka_mock_cmd($k, 'rtt -1 2000') && kafka_mock_cmd($k, 'errors 0 6 1'),
	'the broker answers 2 s late and refuses the next Produce request');
$node->safe_psql('postgres', q{INSERT INTO kjobs VALUES (2, 'refused')});
usleep(600_000);
$node->safe_psql('postgres', q{INSERT INTO kjobs VALUES (3, 'appended')});
usleep(600_000);
ok(kafka_mock_cmd($k, 'rtt -1 0'), 'the broker answers at once again');
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { confirmed_past($lsn) }, 60), 'everything is confirmed');
my $got = join(',', @{ ids() });
my %n;
$n{$_}++ for split /,/, $got;
ok(($n{2} // 0) == 1, 'the job of the refused request is in Kafka once (not lost)') or diag("topic: $got");
ok(($n{1} // 0) == 1 && ($n{3} // 0) == 1 && keys(%n) == 3, 'every other job once (no duplicate)')
  or diag("topic: $got");
like(bridge_log($b), qr/without an offset/, 'the bridge says it did not take the report as a delivery');
stop_bridge($b, 'KILL');
stop_kafka_mock($k);
done_testing();
