# Fixed: a Kafka bridge's slot dropped and re-created by hand under the
# same name (an operator "resetting" a slot that lagged, a tool that
# recreates missing slots, a restore script) stops the bridge with exit 1,
# as the Redis sink does (GAP, test/t/250): the position record of its
# source (same system, timeline, database, slot name) is behind the slot's
# start, so the job committed while no slot existed (job 4) is in no slot.
# The error names the record's position, the slot's, what was lost and the
# ways forward: --create-slot --backfill --backfill-again=LABEL re-delivers what the
# table holds (job 4 among it; 1-3 again, at least once), then the plain
# command line streams; --accept-new-source accepts the gap (the job in no
# slot stays lost, the bridge says so).
# Was: kafka_record.c record_apply() only cleared rec->vouched with a
# WARNING and streamed on: job 4 lost with exit 0 in sight (test/attack
# review of session 8, severity medium-high).
# Control: W2Q_ATTACK_CONTROL=1 leaves the slot alone (no drop, no
# re-create): jobs 1-5 are delivered, the bridge runs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $f = kafka_confirmed_fixture('krec', 'kr', 'rj', rows => 'SELECT generate_series(1, 3)',
	delivered => 'jobs 1-3 delivered and confirmed');
my ($node, $k) = @$f{qw(node k)};
my @cmd = ('--slot', 'kr', @{ $f->{cmd} }, '--sink', "kafka://$k->{bootstrap}");

sub ids
{
	return join ',', sort { $a <=> $b } map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () }
	  kafka_messages($k->{bootstrap}, 'public.rj');
}

my $rec = $node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'kr'});
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kr')}) unless $control;
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (4)');	# in no slot
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('kr', 'wal2queue')})
  unless $control;
my $start = $node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'kr'});
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (5)');

my $br = start_bridge($node, undef, @cmd);
wait_until(sub { !$br->{h}->pumpable || ids() eq '1,2,3,4,5' }, 30);
my $refused = !$br->{h}->pumpable;
my $log = bridge_log($br);
diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, $log));
if ($control)
{
	ok(!$refused, 'control: the bridge runs');
	is(ids(), '1,2,3,4,5', 'control: jobs 1-5 delivered');
	stop_bridge($br);
	stop_kafka_mock($k);
	$node->stop;
	done_testing();
	exit 0;
}
ok($refused, 'the slot re-created behind the record: the bridge stops');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'with exit 1');
like($log, qr/kafka position record of slot "kr" is at \Q$rec\E, behind the position \Q$start\E that the slot has confirmed/,
	'naming the record\'s position and the slot\'s');
like($log, qr/dropped and created again.*jobs committed in between were not delivered.*--create-slot --backfill --backfill-again=LABEL.*--accept-new-source/,
	'what happened, what was lost and the ways forward');
is(ids(), '1,2,3', 'nothing was sent');

# the same command line again: refused again, nothing confirmed meanwhile
is($node->safe_psql('postgres', q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'kr'}),
	$start, 'the slot was not moved by the refused run');

sub ids_count
{
	my %n;
	$n{$_}++ for map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () } kafka_messages($k->{bootstrap}, 'public.rj');
	return \%n;
}

# the way forward that re-delivers: --create-slot --backfill --backfill-again=LABEL
$br = start_bridge($node, undef, @cmd, '--create-slot', '--backfill', '--backfill-again=fix551');
ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "kr" done/ || !$br->{h}->pumpable }, 60)
	  && $br->{h}->pumpable, '--create-slot --backfill --backfill-again=LABEL: the backfill is done') or diag(bridge_log($br));
ok(wait_until(sub { my $n = ids_count(); $n->{4} && $n->{5} }, 30), 'job 4 delivered (and 5)')
  or diag('holds [' . ids() . ']');
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (6)');
ok(wait_until(sub { ids_count()->{6} }, 30), 'then it streams (job 6)');
is(stop_bridge($br) >> 8, 0, 'and stops cleanly');
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (7)');
$br = start_bridge($node, undef, @cmd);
ok(wait_until(sub { ids_count()->{7} }, 30), 'the plain command line streams on (job 7)')
  or diag(bridge_log($br));
ok($br->{h}->pumpable, 'the bridge runs');
is(ids_count()->{$_}, 1, "job $_ once") for 6, 7;
stop_bridge($br);

# the way forward that accepts the gap: re-created once more, job 8 in no slot
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kr')});
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (8)');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('kr', 'wal2queue')});
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (9)');
$br = start_bridge($node, undef, @cmd);
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 're-created again: refused again');
$br->{h}->finish;
$br = start_bridge($node, undef, @cmd, '--accept-new-source');
ok(wait_until(sub { ids_count()->{9} }, 30), '--accept-new-source: job 9 delivered')
  or diag(bridge_log($br));
ok(!ids_count()->{8}, 'job 8 stays lost (the gap accepted)');
like(bridge_log($br), qr/WARNING: the kafka position record of slot "kr" is at \S+, behind where the slot begins \(\S+\): continuing from the slot's position \(--accept-new-source\)/,
	'and says the gap was accepted');
ok($br->{h}->pumpable, 'the bridge runs');
stop_bridge($br);
stop_kafka_mock($k);
$node->stop;
done_testing();
