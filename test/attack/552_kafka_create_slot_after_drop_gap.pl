# What: the Kafka analogue of test/t/260 (Redis: --create-slot past a
# dropped slot's record is refused, NEWSLOT).  Slot kq delivered jobs 1-3
# into Kafka and was dropped (by hand, by a cleanup, prune's force); jobs 4
# and 5 are committed while no slot exists; the bridge is restarted with
# --create-slot (its usual command line, or the one the "slot does not
# exist" error suggests).  It creates slot kq after jobs 4 and 5, finds the
# position record of its own source (same system, timeline, database,
# slot name) behind the new slot, logs a WARNING ("the slot was moved
# without the bridge ... it vouches for nothing in this session") and
# streams on: jobs 4 and 5 are lost, no exit, and the slot it created is
# kept.  On Redis the same steps exit 1, drop the slot created and name
# the ways out (--backfill-again, or --accept-new-source to accept the gap).
# Why: bridge/kafka_record.c record_apply() (a record of this source
# behind ks->from only clears rec->vouched) -- the SINK_REPLAY_NEW_SLOT
# flag is only looked at when there is no record (record_none()) or the
# verdict is already fatal; nothing compares a found record with a slot
# this run created.  The same with the extension installed (checked:
# kafka_confirmed_fixture(..., extension => 1): the bridge registers the
# slot it created, nothing else is said).
# Expected: exit 1 naming the record and the new slot's start (and the
# created slot dropped), as on Redis; or jobs 4 and 5 delivered.
# Severity: high (committed jobs lost with only a WARNING on the sink whose
# record held the evidence; Redis refuses the same steps).
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

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kq')}) unless $control;
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (4)');	# in no slot
$node->safe_psql('postgres', 'INSERT INTO rq VALUES (5)');

my $br = start_bridge($node, undef, @cmd, '--create-slot');
wait_until(sub { !$br->{h}->pumpable || scalar(kafka_messages($k->{bootstrap}, 'public.rq')) >= 5 }, 20);
my @ids = sort { $a <=> $b } map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () }
  kafka_messages($k->{bootstrap}, 'public.rq');
my $refused = !$br->{h}->pumpable;
my $log = bridge_log($br);
diag('topic public.rq holds ids [' . join(',', @ids) . '], the bridge ' . ($refused ? 'stopped' : 'runs'));
diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, $log));
ok($refused || join(',', @ids) eq '1,2,3,4,5',
	'--create-slot past the record: refused, or jobs 4 and 5 delivered (holds [' . join(',', @ids) . '])');
ok(!$refused, 'control: the bridge runs') if $control;
$br->{h}->kill_kill if $br->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
