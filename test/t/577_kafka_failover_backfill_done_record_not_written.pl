# What: 575 after a failover.  A physical standby is promoted; the recovery
# that every refusal prints (SINK_FAILOVER_HINT: the command line plus
# --create-slot --backfill --accept-new-source) finishes its backfill on
# the new primary and the bridge is killed (kill -9) before the stream's
# first session wrote the position record of the new timeline.  The
# service's plain command line then exits 1: "holds the position record of
# slot "kr" for another source ... (the same system, database and slot on
# another timeline)", and prints the failover recovery again (--drop-slot,
# then a second full backfill), although the first one finished.
# Why: bridge/kafka_record.c record_foreign() (and record_behind(), 575):
# the backfill session takes the record over only in memory (its flags
# carry SINK_REPLAY_ACCEPT_NEW, the record is written at the stream's first
# position); the backfill's done state in Kafka does not vouch for the new
# slot after a restart.
# Expected: after a finished failover recovery the service's command line
# streams (the record of the new timeline written before the backfill
# counts as done, or the done state accepted as the takeover).
# Severity: medium -- no loss (it stops), but a crash in the window undoes a
# finished recovery: the documented way out drops the slot and re-sends
# every row; the message says another bridge or another server.
# Fixed: as 575: the backfill's last page writes the record of the new
# timeline at its consistent point (bridge/kafka_backfill.c record_at())
# before the done state; the restart finds its own source's record at the
# slot's start.  Without the backfill another source's record still stops
# the bridge (556).
# Control (W2Q_ATTACK_CONTROL=1): the recovery run is left 5 s to write its
# record before the kill: the plain command line streams.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $k = start_kafka_mock(1);
my $primary = new_node('a577_p');
$primary->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY)');
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('a577_s');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
my @cmd = ('--slot', 'kr', '--tables', 'public.rj', '--status-interval', '1', '--sink', "kafka://$k->{bootstrap}");
my $br = start_streaming_bridge($primary, undef, @cmd, '--create-slot');
$primary->safe_psql('postgres', 'INSERT INTO rj SELECT generate_series(1, 3)');
sleep 3;
stop_bridge($br);
$primary->safe_psql('postgres', 'INSERT INTO rj VALUES (4)');
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
my @recovery = (@cmd, '--create-slot', '--backfill', '--accept-new-source');
$br = start_bridge($standby, undef, @recovery);
my $deadline = time() + 60;
usleep(5_000) until bridge_log($br) =~ /backfill of slot "kr" done/ || !$br->{h}->pumpable || time() > $deadline;
sleep 5 if $ENV{W2Q_ATTACK_CONTROL};
$br->{h}->signal('KILL');
$br->{h}->finish;
like(bridge_log($br), qr/backfill of slot "kr" done/, 'backfill done');
$standby->safe_psql('postgres', 'INSERT INTO rj VALUES (5)');
$br = start_bridge($standby, undef, @cmd);
wait_until(sub { !$br->{h}->pumpable || grep { $_->[3] =~ /"id"\s*:\s*5\b/ } kafka_messages($k->{bootstrap}, 'public.rj') }, 30);
ok($br->{h}->pumpable, 'the plain command line streams after the failover recovery')
  or diag(join("\n", grep { /ERROR/ } split /\n/, bridge_log($br)));
$br->{h}->pumpable ? stop_bridge($br) : $br->{h}->finish;
stop_kafka_mock($k);
done_testing();
