# A healthy bridge stopped for good by the txn identity check (f3af05d,
# deliver3).  The Redis record names the last transaction delivered (a job
# of table b).  PostgreSQL crashes (slot confirmed_flush_lsn lost, as in
# 256) and the operator restarts the bridge with --tables narrowed to a.
# The plugin produces nothing for a fully filtered transaction, so the
# replay never presents b's transaction: the first new transaction of a
# crosses txn_end and deliver3 answers HISTORY ("another history ... rolled
# back to a file-level copy?").  It is the same server and the same WAL;
# every restart replays the same and stops the same way.  Expected: the
# new job of a is delivered (once), the bridge keeps running.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('narrowed');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, v text)');
$node->safe_psql('postgres', 'CREATE TABLE b (id int PRIMARY KEY, v text)');
my @cmd = ('--slot', 'sn', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd, '--tables', 'public.a,public.b', '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30), 'streaming') or diag(bridge_log($b));
my $start = slot_confirmed($node, 'sn');
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'a1')");
$node->safe_psql('postgres', "INSERT INTO b VALUES (1, 'b1')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.b') eq '1' }, 30), 'a and b delivered') or diag(bridge_log($b));
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'sn'") eq 't' }, 30);
stop_bridge($b);
ok(redis($r, 'HGET', 'wal2queue:progress:sn', 'txn_xid') =~ /^\d+$/, 'the record names the transaction of b');

# a PostgreSQL crash: the slot replays from its creation point
$node->stop('immediate');
$node->start;
is(slot_confirmed($node, 'sn'), $start, 'after the crash the slot replays the delivered transactions');

# the operator narrows the tables; the application goes on
$b = start_bridge($node, $r, @cmd, '--tables', 'public.a');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30), 'streaming again') or diag(bridge_log($b));
$node->safe_psql('postgres', "INSERT INTO a VALUES (2, 'a2')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.a') eq '2' }, 20),
	'the new job of a is delivered after the replay with --tables narrowed') or diag(bridge_log($b));
sleep 1;
ok($b->{h}->pumpable, 'the bridge still runs') or diag(bridge_log($b));
unlike(bridge_log($b), qr/another history/, 'no "another history" refusal of the same server');
is(redis($r, 'XLEN', 'public.a'), '2', 'a1 once, a2 once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
