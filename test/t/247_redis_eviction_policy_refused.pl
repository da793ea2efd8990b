# Found by the attack review (fixed): a Redis whose maxmemory-policy evicts
# keys (allkeys-lru/-lfu/-random, the usual cache setting) deletes streams of
# jobs the bridge acknowledged and confirmed to PostgreSQL, and the progress
# record, without a word (73 of 400 jobs were left).  The Redis sink reads the
# policy at every connect (redis_conn.c check_eviction) and refuses such a
# Redis with exit 1 naming maxmemory-policy and noeviction; noeviction and
# volatile-* (wal2queue sets no TTL) are accepted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('evict');
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY, payload text)});

my $r = start_redis(args => [ '--maxmemory', '3mb', '--maxmemory-policy', 'allkeys-lru' ]);
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'a Redis that evicts: the bridge stops');
my $log = bridge_log($b);
like($log, qr/ERROR: Redis evicts keys .*maxmemory-policy allkeys-lru.*noeviction/,
	'the error names the policy and the fix');
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);

# volatile-lru evicts only keys with a TTL: accepted, every job kept
$r = start_redis(args => [ '--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru' ]);
$b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30), 'volatile-lru: the bridge streams');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'x' FROM generate_series(1, 10) g});
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') || 0) == 10 }, 30),
	'volatile-lru: the jobs arrive')
  or diag(bridge_log($b));
unlike(bridge_log($b), qr/maxmemory-policy/, 'volatile-lru: no complaint');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
