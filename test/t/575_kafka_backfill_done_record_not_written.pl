# What: the documented recovery of a lost Kafka slot (--create-slot
# --backfill, test/t/551) finishes its backfill ("backfill of slot "kr"
# done") and the bridge is killed (kill -9, OOM, host reboot) before the
# stream's first session wrote the position record at the backfill's
# consistent point.  The record still names the old slot's position,
# behind the new slot.  The next start, with the same command line
# (systemd's Restart=) or the plain one, stops with exit 1: "the slot was
# moved without the bridge ... jobs committed in between were not
# delivered", and names --create-slot --backfill --backfill-again=LABEL
# (a second full re-send of the tables) or --accept-new-source.
# Why: bridge/kafka_record.c record_behind(): a backfill covers the gap only
# when it ran in this process (rec->backfill_session, rec->backfilled_at are
# kept in memory); the backfill's done state in Kafka
# (kafka_backfill_state.c), which says the tables were re-delivered at
# exactly the slot's start, is not consulted, and the backfill session
# writes no record at its consistent point.
# Expected: a finished backfill at the slot's consistent point vouches for
# the gap after a restart too (or the record is written at that point
# before the backfill counts as done): the restart streams, job 4 (committed
# while no slot existed, re-delivered by the backfill) is not called lost.
# Severity: medium -- no silent loss (it stops), but a crash in a short
# window turns a finished recovery into a refusal whose message is wrong
# (nothing was lost: the backfill re-delivered it) and whose first way out
# re-sends every row again; --accept-new-source would be right but the
# message calls it accepting a loss.  Reliability: the window is between
# the done state and the first record write (killed at the log line).
# Fixed: bridge/kafka_backfill.c write_page() writes the position record at
# the backfill's consistent point (record_at(): written and acknowledged,
# with transactions committed) before the state that says done; a restart
# finds the record at the slot's start and is vouched for.  A slot
# re-created after the backfill is still behind the record (551, 552).
# Also killed at W2Q_TEST_BACKFILL_PAUSE=done-record (the record written,
# the done state not): no loss claimed, the recovery command line finishes.
# Control (W2Q_ATTACK_CONTROL=1): the recovery run is left 5 s to write its
# record before the kill: the restart streams.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $f = kafka_confirmed_fixture('a575', 'kr', 'rj', rows => 'SELECT generate_series(1, 3)',
	delivered => 'jobs 1-3 delivered and confirmed');
my ($node, $k) = @$f{qw(node k)};
my @cmd = ('--slot', 'kr', @{ $f->{cmd} }, '--sink', "kafka://$k->{bootstrap}");

sub ids_count
{
	my %n;
	$n{$_}++ for map { $_->[3] =~ /"id"\s*:\s*(\d+)/ ? $1 : () } kafka_messages($k->{bootstrap}, 'public.rj');
	return \%n;
}

# the slot lost (dropped), job 4 committed in no slot
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kr')});
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (4)');

# the documented recovery; killed as soon as its backfill is done
my @recovery = (@cmd, '--create-slot', '--backfill', '--backfill-again=r575');
my $br = start_bridge($node, undef, @recovery);
my $deadline = time() + 60;
usleep(5_000) until bridge_log($br) =~ /backfill of slot "kr" done/ || !$br->{h}->pumpable
  || time() > $deadline;
sleep 5 if $control;
$br->{h}->signal('KILL');
$br->{h}->finish;
my $log = bridge_log($br);
like($log, qr/backfill of slot "kr" done/, 'the backfill was done') or diag($log);
ok(ids_count()->{4}, 'job 4 re-delivered by the backfill');
note(join("\n", grep { /kafka position record|streaming|backfill/ } split /\n/, $log));

# restarted: the unit's command line again, then the plain one
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (5)');
for my $c ([ 'the recovery command line again', @recovery ], [ 'the plain command line', @cmd ])
{
	my ($what, @args) = @$c;
	$br = start_bridge($node, undef, @args);
	wait_until(sub { !$br->{h}->pumpable || ids_count()->{5} }, 30);
	my $runs = $br->{h}->pumpable;
	my $l = bridge_log($br);
	diag(join("\n", grep { /ERROR/ } split /\n/, $l)) unless $runs;
	ok($runs, "$what: the bridge streams after the finished backfill");
	unlike($l, qr/jobs committed in between were not delivered|jobs committed in between are in no slot/,
		"$what: no loss claimed for what the backfill re-delivered");
	stop_bridge($br) if $runs;
	$br->{h}->finish unless $runs;
}
ok(ids_count()->{5}, 'job 5 delivered');

# killed between the record at the consistent point and the done state
# (W2Q_TEST_BACKFILL_PAUSE=done-record): every row of the backfill is
# acknowledged and the record vouches for the slot's start; the plain
# command line is refused for the unfinished backfill only (no loss
# claimed), the recovery command line finishes it and streams
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kr')});
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (6)');
my @again = (@cmd, '--create-slot', '--backfill', '--backfill-again=r575b');
$br = start_paused_bridge($node, 'done-record', undef, @again);
ok(wait_until(sub { bridge_log($br) =~ /paused at "done-record"/ || !$br->{h}->pumpable }, 60)
	  && $br->{h}->pumpable, 'done-record: the bridge pauses there') or diag(bridge_log($br));
$br->{h}->signal('KILL');
$br->{h}->finish;
ok(ids_count()->{6}, 'job 6 re-delivered by the backfill before the record');
$node->safe_psql('postgres', 'INSERT INTO rj VALUES (7)');
$br = start_bridge($node, undef, @cmd);
wait_until(sub { !$br->{h}->pumpable }, 30);
my $l = bridge_log($br);
like($l, qr/has an unfinished backfill/, 'done-record, the plain command line: the unfinished backfill named');
unlike($l, qr/jobs committed in between were not delivered|jobs committed in between are in no slot/,
	'done-record, the plain command line: no loss claimed');
$br->{h}->pumpable ? stop_bridge($br) : $br->{h}->finish;
$br = start_bridge($node, undef, @again);
wait_until(sub { !$br->{h}->pumpable || ids_count()->{7} }, 30);
ok($br->{h}->pumpable && ids_count()->{7}, 'done-record, the recovery command line: streams, job 7 delivered')
  or diag(bridge_log($br));
$br->{h}->pumpable ? stop_bridge($br) : $br->{h}->finish;
like(bridge_log($br), qr/backfill of slot "kr" done/, 'done-record: the recovery command line finishes the backfill');
stop_kafka_mock($k);
$node->stop;
done_testing();
