# What: a server rolled back to a file-level copy on the same timeline
# (same system identifier, timeline 1, slot) loses the jobs it commits
# between the record's last transaction (txn_end) and the record's lsn:
# after the copy, the original wrote only WAL the slot does not deliver
# (another table; idling with keepalives does the same), and the bridge
# recorded those positions, so the record's lsn is past txn_end.  The
# replay from the restored slot meets the transaction at txn_end (it is in
# the copy: same xid, commit time, end), which counts as proof of the same
# history; every restored transaction after it ending at or below the
# record's lsn is then skipped as "delivered before" and confirmed.
# Silent loss (here all 10 restored jobs; the slot confirmed past them).
# Why: bridge/redis_progress.c deliver(): the evidence (txn_end, txn_xid,
# txn_commit_time) covers the history up to txn_end only; the record's lsn
# moves on without evidence with progress items (RITEM_PROGRESS: `elseif
# it.prev <= at` then at = it.stop, newtxn unchanged), and an item with
# end <= record.lsn is skipped and acknowledged once tend was matched
# (tend = nil, unverified ""; ack_done).  The first-answer check (record
# past the server's WAL end) misses it once the restored server's WAL passed
# the record (the application kept running).  250 (the fix of attack 250)
# used a record whose last position was a transaction.
# Expected: the restored server's jobs are never acknowledged as delivered
# without positive evidence: e.g. the record keeps evidence of its last
# position too (the position's own identity, or "no transaction between
# txn_end and lsn" checked against the server's WAL), or the bridge stops
# with exit 1 naming both histories as 250 does.
# Severity: high (silent loss, confirmed to PostgreSQL, on the restore path
# issue 10 names; needs only that the original server wrote WAL the slot
# does not deliver, or idled with keepalives, after the copy).
# Control: W2Q_ATTACK_CONTROL=1 skips the restore (the original keeps
# going): the 10 jobs arrive.
# Fixed: bridge/redis_progress.c (wal2queue_v1_deliver6): a transaction
# after the record's txn_end and at or below its lsn is never skipped as
# delivered: the record delivered no transaction there (only positions
# without jobs moved lsn), so it is written as next and the record follows
# it (docs/redis.md, "Restore below the record").
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('restore_idle');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
$node->safe_psql('postgres', 'CREATE TABLE other (id int, pad text)');
my @cmd = ('--slot', 'si', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_streaming_bridge($node, $r, @cmd, '--create-slot');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered') or diag(bridge_log($b));
my $after = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$after' FROM pg_replication_slots WHERE slot_name = 'si'") eq 't' }, 30),
	'the slot confirmed them');
stop_bridge($b);

cold_copy($node) unless $ENV{W2Q_ATTACK_CONTROL};
# the original goes on with WAL the slot does not deliver; the bridge
# records the idle positions
$b = start_streaming_bridge($node, $r, @cmd);
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
my $orig_end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub {
	my $l = redis($r, 'HGET', 'wal2queue:progress:si', 'lsn');
	$l ne '' && $node->safe_psql('postgres', "SELECT '$l'::pg_lsn >= '$orig_end'") eq 't' }, 30),
	'the record moved on with idle positions');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
my $record = redis($r, 'HGET', 'wal2queue:progress:si', 'lsn');
my $txn_end = redis($r, 'HGET', 'wal2queue:progress:si', 'txn_end');
diag("record lsn $record, txn_end $txn_end");

# the original is rolled back to the copy; the application goes on: its
# jobs (at LSNs below the record), then more WAL before the bridge starts
restore_cold_copy($node) unless $ENV{W2Q_ATTACK_CONTROL};
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
my $walend = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($node->safe_psql('postgres', "SELECT '$walend'::pg_lsn > '$record'::pg_lsn") eq 't',
	"the server's WAL ($walend) passed the record ($record)");
diag('slot of the server at ' . slot_confirmed($node, 'si'));
$b = start_bridge($node, $r, @cmd);
sub restored
{
	return scalar grep { $_->[1]{src} eq 'restored' } @{ stream_entries($r, 'public.rj') };
}
wait_until(sub { restored() >= 10 || !$b->{h}->pumpable }, 20);
sleep 2;
my $running = $b->{h}->pumpable;
my $confirmed = slot_confirmed($node, 'si');
my $rc = stop_bridge($b) >> 8;
my $log = bridge_log($b);
diag("bridge " . ($running ? 'ran' : "stopped with exit $rc") . "; slot confirmed $confirmed; restored jobs in Redis: " . restored());
ok(restored() == 10 || (!$running && $rc == 1 && $log =~ /another history/),
	'the 10 jobs of the restored server are delivered, or the bridge stops saying it is another history')
  or diag($log);
stop_redis($r);
$node->stop;
done_testing();
