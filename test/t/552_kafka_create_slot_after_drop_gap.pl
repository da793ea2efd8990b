# Fixed: the Kafka analogue of test/t/260 (Redis: --create-slot past a
# dropped slot's record is refused, NEWSLOT).  Slot kq delivered jobs 1-3
# into Kafka and was dropped (by hand, by a cleanup, prune's force); jobs 4
# and 5 are committed while no slot exists; the bridge is restarted with
# --create-slot.  It creates slot kq after jobs 4 and 5 and finds the
# position record of its own source behind the new slot: exit 1, naming
# the record's position and the new slot's, the slot it created dropped
# again, and the ways forward: --create-slot --backfill re-delivers what
# the table holds (jobs 4 and 5 among it; 1-3 again, documented), then the
# same command line streams; --create-slot --accept-new-source accepts the
# gap.
# Was: kafka_record.c looked at SINK_REPLAY_NEW_SLOT only when there was
# no record (record_none()); a record behind only cleared rec->vouched with
# a WARNING: jobs 4 and 5 lost (test/attack review of session 8, high).
# Control: W2Q_ATTACK_CONTROL=1 does not drop the slot: jobs 1-5 are
# delivered, the bridge runs (--create-slot on an existing slot uses it).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $f = kafka_confirmed_fixture('knew', 'kq', 'rq', rows => 'SELECT generate_series(1, 3)',
	delivered => 'jobs 1-3 delivered and confirmed');
my ($node, $k) = @$f{qw(node k)};
my @cmd = ('--slot', 'kq', @{ $f->{cmd} }, '--sink', "kafka://$k->{bootstrap}");

sub ids
{
	my %n;
	$n{$_}++ for map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () } kafka_messages($k->{bootstrap}, 'public.rq');
	return \%n;
}
sub idlist { my $n = ids(); return join ',', sort { $a <=> $b } keys %$n }
sub slot_exists
{
	return $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kq'});
}

my $rec = $node->safe_psql('postgres',
	q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'kq'});
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kq')}) unless $control;
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (4)');	# in no slot
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (5)');

my $br = start_bridge($node, undef, @cmd, '--create-slot');
wait_until(sub { !$br->{h}->pumpable || idlist() eq '1,2,3,4,5' }, 30);
my $refused = !$br->{h}->pumpable;
my $log = bridge_log($br);
diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, $log));
if ($control)
{
	ok(!$refused, 'control: the bridge runs');
	is(idlist(), '1,2,3,4,5', 'control: jobs 1-5 delivered');
	stop_bridge($br);
	stop_kafka_mock($k);
	$node->stop;
	done_testing();
	exit 0;
}
ok($refused, '--create-slot past the record: the bridge stops');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'with exit 1');
like($log, qr/holds the position record of slot "kq" of this system at \Q$rec\E, but the slot was gone and this run created it at \S+: jobs committed in between are in no slot/,
	'naming the record\'s position, the new slot\'s and what was lost');
like($log, qr/--create-slot --backfill.*--create-slot --accept-new-source/, 'and the ways forward');
like($log, qr/dropped replication slot "kq" again/, 'the slot it created is dropped again');
is(slot_exists(), 0, 'no slot kq');
is(idlist(), '1,2,3', 'nothing was sent');

# the way forward that re-delivers: --create-slot --backfill
$br = start_bridge($node, undef, @cmd, '--create-slot', '--backfill');
ok(wait_until(sub { idlist() eq '1,2,3,4,5' }, 60), '--create-slot --backfill: jobs 4 and 5 delivered')
  or diag('holds [' . idlist() . "]\n" . bridge_log($br));
ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "kq" done/ }, 60), 'the backfill is done');
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (6)');
ok(wait_until(sub { ids()->{6} }, 30), 'then it streams (job 6)');
ok($br->{h}->pumpable, 'the bridge runs');
is(stop_bridge($br) >> 8, 0, 'and stops cleanly');
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (7)');
$br = start_bridge($node, undef, @cmd);
ok(wait_until(sub { ids()->{7} }, 30), 'the plain command line streams on (job 7)') or diag(bridge_log($br));
ok($br->{h}->pumpable, 'the bridge runs');
is(ids()->{$_}, 1, "job $_ once") for 6, 7;
stop_bridge($br);

# the way forward that accepts the gap: dropped again, --create-slot --accept-new-source
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kq')});
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (8)');	# in no slot
$br = start_bridge($node, undef, @cmd, '--create-slot');
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'dropped once more: --create-slot is refused again');
$br->{h}->finish;
$br = start_bridge($node, undef, @cmd, '--create-slot', '--accept-new-source');
ok(wait_until(sub { bridge_log($br) =~ /continuing from the slot's position/ }, 30), 'the slot created');
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (9)');
ok(wait_until(sub { ids()->{9} }, 30), '--create-slot --accept-new-source: job 9 delivered')
  or diag(bridge_log($br));
ok(!ids()->{8}, 'job 8 stays lost (the gap accepted)');
like(bridge_log($br), qr/behind where the slot begins .*continuing from the slot's position \(--accept-new-source\)/,
	'and the bridge says so');
ok($br->{h}->pumpable, 'the bridge runs');
stop_bridge($br);
stop_kafka_mock($k);
$node->stop;
done_testing();
