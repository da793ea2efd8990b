# Found by the attack review: a large transaction (staged with RPUSH into
# wal2queue:stage:<slot>:<unique>) meets Redis OOM half-way.  The live
# bridge pauses and retries under a NEW stage key; the half-filled list of
# the refused attempt stays behind for a day (EXPIRE 86400), holding tens of
# MB exactly while Redis is at maxmemory.  docs/redis.md promises that only
# "lists left behind by a bridge that died" remain.  Expected: once the
# transaction is delivered, no stage list of the slot is left.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('stageoom');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE bigt (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('sb', 'wal2queue');
});
my $b = start_bridge($node, $r, '--slot', 'sb', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO bigt SELECT g, repeat('z', 200) FROM generate_series(1, 300000) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '300000' }, 120), 'first big transaction delivered');
redis($r, 'CONFIG', 'SET', 'maxmemory', '100mb');
$node->safe_psql('postgres', q{INSERT INTO bigt SELECT g, repeat('z', 200) FROM generate_series(300001, 600000) g});
ok(wait_until(sub { bridge_log($b) =~ /refused RPUSH/ }, 60), 'staging meets OOM');
sleep 5;
redis($r, 'CONFIG', 'SET', 'maxmemory', '0');
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '600000' }, 120), 'second big transaction delivered after memory is raised');
sleep 2;
my @left = grep { length } split /\n/, redis($r, '--scan', '--pattern', 'wal2queue:stage:*');
my $bytes = 0;
$bytes += (redis($r, 'MEMORY', 'USAGE', $_) || 0) for @left;
is(scalar(@left), 0, "no orphaned stage list is left by the live bridge (found @left, $bytes bytes)");
ok($b->{h}->pumpable, 'the bridge still runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
