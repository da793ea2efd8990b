# Open: the bridge streams into a Redis whose maxmemory-policy evicts keys,
# and jobs it acknowledged (and confirmed to PostgreSQL) disappear without a
# word.  Under allkeys-lru/-lfu/-random Redis deletes whole keys when it
# reaches maxmemory: streams holding undelivered jobs, the progress record.
# The deliver function is refused under OOM only with noeviction (its
# docs/redis.md paragraph); the Redis sink (redis_conn.c) never reads
# maxmemory-policy, so nothing warns.  Job queues that share a cache-tuned
# Redis (allkeys-lru is the usual cache setting) lose jobs silently; Sidekiq
# and BullMQ check the policy at start for this reason.
# Expected: the bridge refuses such a Redis (exit 1 naming maxmemory-policy
# and noeviction) or at least warns; otherwise every job is kept.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('evict');
my $r = start_redis(args => [ '--maxmemory', '3mb', '--maxmemory-policy', 'allkeys-lru' ]);
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY, queue text, payload text)});
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ || !$b->{h}->pumpable }, 20), 'the bridge starts');
for my $i (0 .. 19)
{
	$node->safe_psql('postgres', qq{INSERT INTO jobs SELECT g, 'q' || (g % 40), repeat('x', 20000)
		FROM generate_series($i * 20 + 1, $i * 20 + 20) g});
}
wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /confirmed/ && slot_caught_up() }, 20);
sub slot_caught_up
{
	return $node->safe_psql('postgres', q{SELECT confirmed_flush_lsn >= pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = 's'}) eq 't';
}
sleep 2;
my $total = 0;
$total += redis($r, 'XLEN', "q$_") || 0 for 0 .. 39;
my $warned = bridge_log($b) =~ /maxmemory-policy/;
note("evicted keys: " . (redis($r, 'INFO', 'stats') =~ /evicted_keys:(\d+)/ ? $1 : '?'));
ok($warned || $total == 400, 'a Redis that evicts is refused or named, or every job is kept')
  or diag("$total of 400 jobs in Redis, slot confirmed: " . (slot_caught_up() ? 'all' : 'not all')
	. ", bridge " . ($b->{h}->pumpable ? 'running' : 'stopped') . "\n"
	. join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
