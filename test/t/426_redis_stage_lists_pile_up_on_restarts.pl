# What: a bridge killed (kill -9, the kernel's OOM killer, a crash, a node
# restart; systemd brings it back) while it stages a large transaction
# leaves the half-filled staging list for a day; the restarted bridge,
# which holds the slot and so is the only one that can stage for it,
# stages the transaction again under a new key and never deletes the
# lists its slot left.  A crash loop during a big transaction piles up a
# copy per restart (here 3 restarts: 3 lists left after delivery), until
# Redis is full and refuses every writer, for a day.
# Why: bridge/sink_redis.c stage_entries() names lists
# <prefix>wal2queue:stage:<slot>:<pid>-<time>-<seq>; only the live process's
# own abandoned list (orphan_key, redis_conn.c) is ever deleted; docs/redis.md
# ("Lists left behind by a bridge that died expire after a day") accepts it.
# Expected: a bridge that holds the slot deletes its slot's staging lists
# before it stages (SCAN <prefix>wal2queue:stage:<slot>:*: a list there is
# a dead process's or a zombie's, whose call the record refuses anyway), so
# after delivery no list of the slot is left.
# Severity: low-medium (Redis memory of a transaction's size per restart,
# for a day; no loss, no duplicate).
# Fixed: each session, once the bridge holds the slot, sweeps its slot's
# staging lists (redis_conn.c: SCAN MATCH <prefix>wal2queue:stage:<slot>:*
# TYPE list, UNLINK of those no call of the process uses); another slot's
# list is not touched.
# Control: W2Q_ATTACK_CONTROL=1 lets the first bridge deliver: no list left.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('stagepile');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE bigt (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('sk', 'wal2queue');
});
# another slot's list (its bridge may be staging) is left alone
redis($r, 'RPUSH', 'wal2queue:stage:sk2:1-1-1', 'x');
my @cmd = ('--slot', 'sk', '--status-interval', '1', '--accept-new-source');
sub lists { return grep { length } split /\n/, redis($r, '--scan', '--pattern', 'wal2queue:stage:sk:*') }
my $b = start_bridge($node, $r, @cmd);
$node->safe_psql('postgres', q{INSERT INTO bigt VALUES (0, 'warm')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '1' }, 30), 'first job delivered');
stop_bridge($b);
@cmd = grep { $_ ne '--accept-new-source' } @cmd;
$node->safe_psql('postgres', q{INSERT INTO bigt SELECT g, repeat('z', 200) FROM generate_series(1, 200000) g});
my $kills = $ENV{W2Q_ATTACK_CONTROL} ? 0 : 3;
for my $k (1 .. $kills)
{
	$b = start_bridge($node, $r, @cmd);
	my %before = map { $_ => 1 } lists();
	ok(wait_until(sub { grep { !$before{$_} } lists() }, 60), "run $k stages the transaction");
	stop_bridge($b, 'KILL');
}
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'XLEN', 'public.bigt') eq '200001' }, 120), 'the transaction is delivered');
sleep 2;
my @left = lists();
my $bytes = 0;
$bytes += (redis($r, 'MEMORY', 'USAGE', $_) || 0) for @left;
is(scalar(@left), 0, "no staging list of the slot is left once the live bridge delivered ("
	  . scalar(@left) . " left, $bytes bytes)");
is(redis($r, 'LLEN', 'wal2queue:stage:sk2:1-1-1'), '1', 'the list of another slot is still there');
like(bridge_log($b), qr/deleted \d+ staging lists? left in Redis for slot "sk"/, 'the sweep says what it deleted')
  unless $ENV{W2Q_ATTACK_CONTROL};

stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
