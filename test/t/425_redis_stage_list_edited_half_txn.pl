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
# Fixed: the deliver call reads the whole staging list before its first
# XADD (redis_progress.c stagecheck()): every piece's length and every
# entry's element count and key; a list that is not what was staged is
# STAGEGAP, nothing written, and the bridge stages the transaction again.
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
like(bridge_log($b), qr/a staged transaction is incomplete in Redis/, 'the edited list was refused (STAGEGAP)')
  unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b);
$b = start_bridge($node, $r, @cmd);
wait_until(sub { redis($r, 'XLEN', 'public.bigt') >= $n + 1 }, 120);
sleep 2;
my $total = redis($r, 'XLEN', 'public.bigt') - 1;
is($total, $n, "after a restart each job is there once ($total entries of $n jobs)");

# An entry's key changed to another key (here a string): the XADD there
# would fail half-way; the key is checked against the transaction's keys.
my $m = 300000;
redis($r, 'SET', 'victim', 'x');
$node->safe_psql('postgres', "INSERT INTO bigt SELECT g, repeat('z', 100) FROM generate_series($n + 1, $n + $m) g");
$idx = 7 * 50000 + 1;
# (a list of it: not the first one's, left by the bridge that stopped, nor
# one of a replay of it, whose first job's id is not above $n)
ok(wait_until(sub {
	($key) = grep { length && redis($r, 'LINDEX', $_, 4) > $n }
	  split /\n/, redis($r, '--scan', '--pattern', '*wal2queue:stage:*');
	$key && redis($r, 'LLEN', $key) > $idx }, 60), 'the second transaction is being staged');
$b->{h}->signal('STOP');
is(redis($r, 'LINDEX', $key, $idx), 'public.bigt', 'element ' . $idx . ' is an entry\'s key');
redis($r, 'LSET', $key, $idx, 'victim') unless $ENV{W2Q_ATTACK_CONTROL};
$b->{h}->signal('CONT');
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.bigt') eq $n + $m + 1 }, 120);
sleep 1;
$total = redis($r, 'XLEN', 'public.bigt') - 1 - $n;
ok($b->{h}->pumpable, 'the bridge runs on') or diag(bridge_log($b));
is($total, $m, "the second transaction arrives whole, once ($total entries of $m jobs)");
is(redis($r, 'TYPE', 'victim'), 'string', 'the key written into the list was not touched');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
