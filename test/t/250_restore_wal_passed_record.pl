# A server rolled back to a file-level copy on the same timeline (same
# system identifier, timeline 1, slot) whose WAL has passed the Redis
# progress record before the bridge starts again (the application kept
# running: its jobs, then 5,000 rows of another table).  IDENTIFY_SYSTEM's
# WAL end is past the record, so 204's check passes; the record's LSN alone
# cannot tell the two histories apart, and the restored server's jobs at
# LSNs below it were skipped as "delivered before" (attack 250).  The
# record also holds the last delivered transaction (end LSN, xid, commit
# time): the replay reaches that LSN with another transaction (or none),
# so the bridge stops with exit 1 naming both, confirming nothing of the
# restored server's jobs; after the operator deletes the record, a start
# with --accept-new-source delivers them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('restore_passed');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
$node->safe_psql('postgres', 'CREATE TABLE other (id int, pad text)');
my @cmd = ('--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_streaming_bridge($node, $r, @cmd, '--create-slot');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered') or diag(bridge_log($b));
stop_bridge($b);

# a cold file-level copy of the server (slot included)
cold_copy($node);
$b = start_streaming_bridge($node, $r, @cmd);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 2000) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '2000' }, 60), 'more jobs delivered on the original');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
my $record = redis($r, 'HGET', 'wal2queue:progress:sr', 'lsn');
my $txn_end = redis($r, 'HGET', 'wal2queue:progress:sr', 'txn_end');
my $txn_xid = redis($r, 'HGET', 'wal2queue:progress:sr', 'txn_xid');
ok($txn_end ne '' && $txn_xid =~ /^\d+$/ && redis($r, 'HGET', 'wal2queue:progress:sr', 'txn_commit_time') =~ /^\d+$/,
	"the record holds its last transaction (xid $txn_xid ending at $txn_end)");

# the original is rolled back to the copy; the application goes on: its
# jobs, then more WAL of another table before the bridge starts again
restore_cold_copy($node);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g");
my $walend = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($node->safe_psql('postgres', "SELECT '$walend'::pg_lsn > '$record'::pg_lsn") eq 't',
	"the restored server's WAL ($walend) passed the record ($record)");
my $confirmed = slot_confirmed($node, 'sr');
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge stops by itself') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 1, 'with exit 1');
my $log = bridge_log($b);
like($log, qr/ERROR: Redis progress record "wal2queue:progress:sr" \(at \Q$record\E\) last delivered xid $txn_xid committed \S+, ending at \Q$txn_end\E, but this server \(system \d+, timeline 1\) presents (xid \d+ committed \S+, ending at [0-9A-F\/]+|no transaction there \(it reached [0-9A-F\/]+ without one\)): another history .*--accept-new-source/,
	'naming both transactions and the way out') or diag($log);
is(redis($r, 'XLEN', 'public.rj'), '2000', 'nothing of the restored server was written');
is(slot_confirmed($node, 'sr'), $confirmed, 'and nothing confirmed: the slot stays where it was');

# the operator decides: the restored server's jobs are to be delivered.
# Without the record everything from the slot's position comes (at least
# once: the restored slot may be behind what it had delivered)
redis($r, 'DEL', 'wal2queue:progress:sr');
$b = start_bridge($node, $r, @cmd, '--accept-new-source');
sub restored
{
	return scalar grep { $_->[1]{src} eq 'restored' } @{ stream_entries($r, 'public.rj') };
}
ok(wait_until(sub { restored() >= 10 }, 30),
	'after DEL and --accept-new-source the 10 jobs of the restored server arrive') or diag(bridge_log($b));
is(restored(), 10, 'each once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
