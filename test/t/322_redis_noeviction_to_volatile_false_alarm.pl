# The eviction watch (2bf3c60, 259) excuses evictions only "while the policy
# was volatile-* at both looks".  docs/redis.md names noeviction and the
# volatile-* policies as the safe ones, and a full noeviction Redis is the
# very moment an operator switches between them: Redis is full, writes get
# OOM (the bridge pauses), the operator runs CONFIG SET maxmemory-policy
# volatile-lru, and Redis at once evicts keys with a TTL -- another
# application's cache, never a stream or the record.  The look before was
# noeviction, the look after is volatile-lru with evicted_keys up, and the
# bridge exits 1: "a policy that evicts any key was in force meanwhile, so
# streams of jobs already confirmed to PostgreSQL may be gone ... check the
# streams against the jobs committed" -- no such policy was ever set.
# Expected: the bridge runs on and delivers (noeviction then volatile-*
# can evict only keys with a TTL).
# Fixed (redis_conn.c:evict_judge): a rise of evicted_keys is excused when
# both looks saw noeviction or volatile-*, at least one volatile-* (neither
# evicts a key without a TTL); noeviction at both looks still stops the
# bridge (259), as does allkeys-* at a look.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('noevict_volatile');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $r = start_redis(args => ['--maxmemory-policy', 'noeviction']);
my $b = start_bridge($node, $r, '--slot', 'nv', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30), 'streaming') or diag(bridge_log($b));
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'jobs delivered');

# another application's cache (keys with a TTL) fills Redis to its limit
redis($r, 'EVAL', "for i = 1, 3000 do redis.call('SET', 'cache:' .. i, string.rep('x', 1000), 'EX', 3600) end", '0');
my ($used) = redis($r, 'INFO', 'memory') =~ /used_memory:(\d+)/;
redis($r, 'CONFIG', 'SET', 'maxmemory', int($used - 500_000));
$node->safe_psql('postgres', "INSERT INTO rj VALUES (11, 'while full')");
sleep 3;    # the bridge pauses on OOM and looks at INFO: noeviction
is(redis($r, 'XLEN', 'public.rj'), '10', 'Redis is full: noeviction refuses the write');

# the operator's documented fix: a volatile-* policy
redis($r, 'CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru');
my ($evicted) = redis($r, 'INFO', 'stats') =~ /evicted_keys:(\d+)/;
ok($evicted > 0, "volatile-lru evicted keys with a TTL ($evicted)");
is(redis($r, 'TYPE', 'wal2queue:progress:nv'), 'hash', 'the record is still there');
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '11' }, 30), 'the paused job is delivered')
  or diag(bridge_log($b));
sleep 2;
ok($b->{h}->pumpable, 'the bridge runs on') or diag(bridge_log($b));
unlike(bridge_log($b), qr/a policy that evicts any key was in force/, 'no false eviction alarm');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
