# Found by the attack review: the server behind the conninfo is rolled back to a
# file-level copy (VM/storage snapshot, cold backup restored without PITR):
# same system identifier, same timeline 1, same slot -- but its WAL ends
# below the LSN that the Redis progress record already holds.  New jobs
# committed on the restored server get LSNs at or below the record, and the
# Redis function counts them "delivered before": they are skipped, the slot
# confirms them, nothing is logged.  Expected (issue 10, "a restore ... never
# silently accepted"): the bridge stops with exit 1 since the record is
# ahead of the server's WAL end (IDENTIFY_SYSTEM xlogpos), or delivers them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('restore');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_streaming_bridge($node, $r, '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered') or diag(bridge_log($b));
stop_bridge($b);

# a cold file-level copy of the server (slot included)
cold_copy($node);
$b = start_streaming_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 5000) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '5000' }, 60), 'more jobs delivered on the original');
stop_bridge($b);

# the original is rolled back to the copy; the application goes on
restore_cold_copy($node);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$b = start_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.rj') eq '5010' }, 20);
my $stopped = !$b->{h}->pumpable;
my $delivered = redis($r, 'XLEN', 'public.rj') eq '5010';
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", stream holds " . redis($r, 'XLEN', 'public.rj')
	. ", record " . redis($r, 'HGET', 'wal2queue:progress:sr', 'lsn')
	. ", slot confirmed " . slot_confirmed($node, 'sr'));
ok($stopped || $delivered, 'the 10 jobs of the restored server are delivered, or the bridge stops loudly');
like(bridge_log($b), qr/past the server's WAL end [0-9A-F]+\/[0-9A-F]+: the server was rolled back/,
	'it stops saying the server was rolled back');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
