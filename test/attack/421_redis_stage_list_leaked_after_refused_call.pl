# What: a staged transaction (larger than about 1 MiB, sent ahead with RPUSH
# into wal2queue:stage:<slot>:<unique>) whose deliver call is refused (here
# "Function not found": another bridge version replaced the library, the
# documented upgrade race; BUSY, OOM, a lost connection do the same) after
# the next transaction began leaves its staging list behind for a day,
# while the bridge lives on and delivers the transaction again from a NEW
# list.  Each refusal of that kind leaks a full copy of the transaction in
# Redis memory, exactly when Redis is in trouble (OOM makes it worse and
# worse).  docs/redis.md promises only "lists left behind by a bridge that
# died expire after a day"; 203 fixed the same for a list being filled.
# Why: bridge/sink_redis.c redis_begin() frees build.stage_key at the next
# transaction's begin, and redis_disconnect() keeps only build.stage_key
# (one orphan_key) for redis_conn.c to DEL at the reconnect; the key of a
# committed, staged transaction whose call is still in flight is in no
# list the sink keeps (only in the call's arguments).
# Expected: once both transactions are delivered, no stage list of the
# slot is left (the sink remembers the stage keys of calls in flight and
# deletes them when the calls are refused, or the function deletes a list
# it refuses).
# Severity: low-medium (memory leak of a transaction's size per refusal,
# for a day; no loss, no duplicate).
# Control: W2Q_ATTACK_CONTROL=1 leaves the library in place: no list left.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('stageleak');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE bigt (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('sl', 'wal2queue');
});
my $b = start_bridge($node, $r, '--slot', 'sl', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO bigt VALUES (0, 'warm')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '1' }, 30), 'first job delivered');

# hold the bridge, commit two large transactions, pull the library, let
# it go with Redis holding writes for 3 s (CLIENT PAUSE WRITE): the first
# one's pieces, its deliver call and the second one's first piece are all
# in flight (under the bridge's 8 MB) when Redis answers them in order, so
# the call's refusal is read after the second transaction began
my $want = 1;
for my $round (1 .. 2)
{
	my $base = $round * 100000;
	$b->{h}->signal('STOP');
	for my $t (0, 1)
	{
		my $lo = $base + $t * 15000 + 1;
		my $hi = $base + $t * 15000 + 15000;
		$node->safe_psql('postgres', "INSERT INTO bigt SELECT g, repeat('z', 200) FROM generate_series($lo, $hi) g");
	}
	$want += 30000;
	redis($r, 'FUNCTION', 'DELETE', 'wal2queue_v1') unless $ENV{W2Q_ATTACK_CONTROL};
	redis($r, 'CLIENT', 'PAUSE', '3000', 'WRITE');
	$b->{h}->signal('CONT');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq $want }, 120), "round $round: both transactions delivered");
}
sleep 2;
like(bridge_log($b), qr/Function not found|connected to Redis again/, 'the call was refused and replayed')
  unless $ENV{W2Q_ATTACK_CONTROL};
my @left = grep { length } split /\n/, redis($r, '--scan', '--pattern', '*wal2queue:stage:*');
my $bytes = 0;
$bytes += (redis($r, 'MEMORY', 'USAGE', $_) || 0) for @left;
is(scalar(@left), 0, "no staging list is left by the live bridge (found @left, $bytes bytes, TTL "
	  . (@left ? redis($r, 'TTL', $left[0]) : '-') . ')');
ok($b->{h}->pumpable, 'the bridge still runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
