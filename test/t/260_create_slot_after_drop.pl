# The service's own command line (--create-slot) after its slot was dropped
# while it was stopped (a DBA cleaning "inactive" slots, a failover tool),
# with jobs committed meanwhile.  It used to create a new slot and move the
# Redis record up to it: those jobs were never delivered and nothing said so
# (attack 260).  The record is positive evidence that this source's slot
# delivered only up to an earlier position: the bridge stops with exit 1
# naming both positions and the ways out, and drops the slot it just
# created (a refused command line leaves no slot behind).  The ways out:
# --backfill --backfill-again=LABEL re-delivers what the table holds (at
# least once), --accept-new-source accepts the gap.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('dropped');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my @cmd = ('--slot', 'sd', '--create-slot', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'first' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered');
is(stop_bridge($b) >> 8, 0, 'the service stops');
my $record = redis($r, 'HGET', 'wal2queue:progress:sd', 'lsn');

$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('sd')");
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'while no slot' FROM generate_series(11, 20) g");

$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the service command line stops by itself') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 1, 'with exit 1');
my $log = bridge_log($b);
like($log, qr/ERROR: Redis progress record "wal2queue:progress:sd" shows slot "sd" of this system delivered up to \Q$record\E, but the slot was gone and this run created it at ([0-9A-F\/]+): jobs committed in between are in no slot.*--backfill-again=LABEL.*--accept-new-source/,
	'naming the record\'s position, the new slot\'s and the ways out') or diag($log);
like($log, qr/WARNING: dropped replication slot "sd" again: this run created it and the sink refused it/,
	'the slot it created is dropped again');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sd'"), '0',
	'no slot is left behind');
is(redis($r, 'HGET', 'wal2queue:progress:sd', 'lsn'), $record, 'the record stays');
is(redis($r, 'XLEN', 'public.rj'), '10', 'nothing was written');

# the same command line again: the same refusal, never a silent new slot
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'a restart by a service manager is refused the same way');
is(stop_bridge($b) >> 8, 1, 'exit 1 again');

# the way out that re-delivers what the table holds (at least once)
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'still no slot' FROM generate_series(21, 30) g");
$b = start_bridge($node, $r, @cmd, '--backfill', '--backfill-again=after-drop');
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '40' }, 60),
	'--backfill --backfill-again=LABEL re-delivers the table\'s 30 rows') or diag(bridge_log($b));
my %ids;
$ids{ $_->[1]{id} }++ for @{ stream_entries($r, 'public.rj') };
is(scalar(grep { $ids{$_} } 1 .. 30), 30, 'every row, the 20 committed without a slot among them');
$node->safe_psql('postgres', "INSERT INTO rj VALUES (31, 'streamed')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '41' }, 30), 'then the new slot streams');
is(stop_bridge($b) >> 8, 0, 'and stops cleanly');
stop_redis($r);
$node->stop;
done_testing();
