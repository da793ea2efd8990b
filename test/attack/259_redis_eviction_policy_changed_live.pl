# Attack review 4: a Redis switched to an evicting policy while the bridge
# runs loses confirmed jobs silently.  247 (fixed) refuses a Redis whose
# maxmemory-policy evicts (allkeys-*) -- read once, at connect
# (redis_conn.c:check_eviction()).  The likely way a production Redis gets
# such a policy is at run time: Redis is full, noeviction refuses writes,
# the bridge pauses (as documented), and an operator "fixes" the outage with
# CONFIG SET maxmemory-policy allkeys-lru.  The bridge's connection stays up,
# nothing is checked again, Redis evicts the oldest keys -- the job streams
# -- and the bridge goes on delivering and confirming.  Expected: the jobs
# delivered are still there, or the bridge stops naming the policy.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use Time::HiRes qw(usleep);

my $node = new_node('evict_live');
my $r = start_redis(args => ['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction']);
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text); CREATE TABLE rk (id int PRIMARY KEY)');
my $b = start_bridge($node, $r, '--slot', 'ev', '--create-slot', '--tables', 'public.rj,public.rk',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'job' FROM generate_series(1, 500) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '500' }, 30), '500 jobs delivered');

# the operator's fix for a full Redis, then the memory fills with other keys
redis($r, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
for my $i (1 .. 30)
{
	redis($r, 'EVAL', "for i = 1, 500 do redis.call('SET', 'filler:' .. ARGV[1] .. ':' .. i, string.rep('x', 1000)) end",
		'0', $i);
	# the application goes on: the progress record stays recently used
	$node->safe_psql('postgres', "INSERT INTO rk VALUES ($i)");
	usleep(200_000);
}
$node->safe_psql('postgres', "INSERT INTO rj VALUES (501, 'later')");
sleep 4;
my $stopped = !$b->{h}->pumpable;
my $len = redis($r, 'XLEN', 'public.rj');
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", stream holds $len, evicted_keys "
	. (redis($r, 'INFO', 'stats') =~ /evicted_keys:(\d+)/)[0] . ", slot confirmed " . slot_confirmed($node, 'ev'));
ok($stopped || $len >= 500, 'the delivered jobs survive, or the bridge stops naming the policy');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
