# What: a Kafka bridge's slot is dropped and re-created by hand under the
# same name (an operator "resetting" a slot that lagged, a tool that
# recreates missing slots, a restore script).  A job committed while no slot existed (job 4) is in no slot.
# The next bridge (the same command line: no --create-slot, no
# --accept-new-source) finds the position record of its source (same
# system, timeline, database, slot name) behind the slot's start, logs a
# WARNING ("the slot was moved without the bridge ... it vouches for
# nothing in this session") and streams on: job 4 is lost for good, the
# bridge runs with exit 0 in sight.  The Redis sink refuses the same case
# (the record behind the slot: GAP, exit 1), and the Kafka sink itself
# refuses a MISSING record of a slot that delivered before (493): a record
# that proves the gap is treated more leniently than no record at all.
# Why: bridge/kafka_record.c record_apply() (a record of this source behind
# ks->from only clears rec->vouched, with a WARNING) and bridge/slot.c
# slot_check_delivered() (pg_stat_replication_slots counts nothing for the
# new slot: it is not "a slot that delivered before"); without the
# extension's registry attest_slot() has nothing to decide from; with it
# (checked: kafka_confirmed_fixture(..., extension => 1)) attest_slot()
# only refuses prune() its trust, a second WARNING, and job 4 is lost all
# the same.
# Expected: the bridge refuses (exit 1, naming the record behind the slot
# and --accept-new-source as the deliberate way out), as the Redis sink
# does; or job 4 is delivered.
# Severity: medium-high (silent-but-for-a-WARNING loss of committed jobs,
# no refusal; the record held the evidence).
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

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kr')}) unless $control;
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (4)');	# in no slot
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('kr', 'wal2queue')})
  unless $control;
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (5)');

my $br = start_bridge($node, undef, @cmd);
wait_until(sub { !$br->{h}->pumpable || scalar(kafka_messages($k->{bootstrap}, 'public.rj')) >= 5 }, 20);
my @ids = sort { $a <=> $b } map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () }
  kafka_messages($k->{bootstrap}, 'public.rj');
my $refused = !$br->{h}->pumpable;
my $log = bridge_log($br);
diag('topic public.rj holds ids [' . join(',', @ids) . '], the bridge ' . ($refused ? 'stopped' : 'runs'));
diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, $log));
ok($refused || join(',', @ids) eq '1,2,3,4,5',
	'the slot re-created behind the record: refused, or job 4 delivered (holds [' . join(',', @ids) . '])');
ok(!$refused, 'control: the bridge runs') if $control;
$br->{h}->kill_kill if $br->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
