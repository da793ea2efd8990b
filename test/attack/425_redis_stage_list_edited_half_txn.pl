# What: a staging list (wal2queue:stage:<slot>:<unique>, a plain list that
# any client of the Redis can write) edited while a large transaction is
# staged: one element changed in place (LSET; the length stays) makes the
# deliver call fail half-way through moving the list into the stream.  A
# function does not roll back: the first ~50,000 entries of the
# transaction are visible, the record is not advanced, the bridge exits 1,
# and the restart delivers the whole transaction again: duplicates of the
# first half.  (An element changed to another well-formed value is
# delivered as a job: forged content, not caught either.)
# Why: bridge/redis_progress.c write() checks only the list's length
# (LLEN == nstaged) before xadds() unpacks it piece by piece; an entry's
# element count (tonumber(src[i])) is trusted, and a nil raises a Lua
# error after earlier XADDs.  typecheck() promises "a call never stops
# half-way" for the streams, not for the list it reads from.
# Expected: a staged list that is not exactly what was sent is refused
# before anything is written (STAGEGAP: e.g. the elements' counts checked
# in a first pass, or a digest of each piece kept in the call and compared),
# and the transaction is staged again.
# Severity: low (needs a client that writes the bridge's private key; such
# a client could also XADD forged jobs), but it breaks "never half a
# transaction visible" and exactly once.
# Control: W2Q_ATTACK_CONTROL=1 holds the bridge the same way without
# editing the list: the transaction arrives once, whole.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $n = 300000;
my $node = new_node('stageedit');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE bigt (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('se', 'wal2queue');
});
my @cmd = ('--slot', 'se', '--status-interval', '1', '--accept-new-source');
my $b = start_bridge($node, $r, @cmd);
$node->safe_psql('postgres', q{INSERT INTO bigt VALUES (0, 'warm')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '1' }, 30), 'first job delivered');
$node->safe_psql('postgres', "INSERT INTO bigt SELECT g, repeat('z', 100) FROM generate_series(1, $n) g");
# each staged entry is 7 elements: count, key, seq, id, value, p, value
my $idx = 7 * 50000;
my $key;
ok(wait_until(sub {
	($key) = grep { length } split /\n/, redis($r, '--scan', '--pattern', '*wal2queue:stage:*');
	$key && redis($r, 'LLEN', $key) > $idx }, 60), 'the transaction is being staged');
$b->{h}->signal('STOP');
is(redis($r, 'LINDEX', $key, $idx), '6', 'element ' . $idx . ' is an entry\'s count');
redis($r, 'LSET', $key, $idx, 'x') unless $ENV{W2Q_ATTACK_CONTROL};
$b->{h}->signal('CONT');
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.bigt') eq $n + 1 }, 120);
sleep 1;
my $first = redis($r, 'XLEN', 'public.bigt') - 1;
diag("after the call: $first of $n entries visible; bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped'));
ok($first == 0 || $first == $n, 'the transaction is visible whole or not at all') or diag(bridge_log($b));
stop_bridge($b);
$b = start_bridge($node, $r, @cmd);
wait_until(sub { redis($r, 'XLEN', 'public.bigt') >= $n + 1 }, 120);
sleep 2;
my $total = redis($r, 'XLEN', 'public.bigt') - 1;
is($total, $n, "after a restart each job is there once ($total entries of $n jobs)");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
