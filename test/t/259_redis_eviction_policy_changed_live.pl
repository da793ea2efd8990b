# Attack review 4: a Redis switched to an evicting policy while the bridge
# runs lost confirmed jobs silently.  247 refuses a Redis whose
# maxmemory-policy evicts (allkeys-*), but read it once, at connect.  The
# likely way a production Redis gets such a policy is at run time: Redis is
# full, noeviction refuses writes, the bridge pauses (as documented), and an
# operator "fixes" the outage with CONFIG SET maxmemory-policy allkeys-lru;
# Redis evicted the oldest keys -- the job streams -- and the bridge went on
# delivering and confirming (500 confirmed jobs gone, nothing logged).
# Fixed (redis_conn.c, the eviction watch): every ack is held until an INFO
# pipelined after the call it answers shows a policy that does not evict
# our keys and evicted_keys unchanged since the last look (one a second when
# idle); otherwise the bridge stops with exit 1 naming the policy or the
# evicted count, and nothing delivered since is confirmed.  Evictions under
# a volatile-* policy (keys with a TTL: not ours) do not stop it.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use Time::HiRes qw(usleep);

my $node = new_node('evict_live');
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text); CREATE TABLE rk (id int PRIMARY KEY)');

sub stopped_with
{
	my ($label, $b, $re) = @_;
	ok(wait_until(sub { !$b->{h}->pumpable }, 15), "$label: the bridge stops") or $b->{h}->kill_kill;
	$b->{h}->finish;
	is($b->{h}->full_result(0) >> 8, 1, "$label: exit 1");
	like(bridge_log($b), $re, "$label: the error says why and what to do") or diag(bridge_log($b));
}

sub confirmed_upto
{
	my ($slot, $lsn) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn <= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't';
}

# 1. the policy switched to allkeys-lru while the bridge runs
my $r = start_redis(args => ['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction']);
my $b = start_bridge($node, $r, '--slot', 'ev', '--create-slot', '--tables', 'public.rj,public.rk',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'job' FROM generate_series(1, 500) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '500' }, 30), '500 jobs delivered');
redis($r, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$node->safe_psql('postgres', "INSERT INTO rj VALUES (501, 'after the switch')");
stopped_with('allkeys-lru set live', $b,
	qr/ERROR: Redis evicts keys when it reaches maxmemory \(maxmemory-policy allkeys-lru, set while the bridge ran\).*nothing delivered since is confirmed; set maxmemory-policy noeviction/);
ok(confirmed_upto('ev', $lsn), 'allkeys-lru set live: nothing past the switch is confirmed');
stop_redis($r);

# 2. evicted under allkeys-lru and switched back before the bridge looked:
#    one pipeline, so no other client's command runs in between
$r = start_redis(args => ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction']);
$b = start_bridge($node, $r, '--slot', 'ev2', '--create-slot', '--tables', 'public.rj,public.rk',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rk SELECT g FROM generate_series(1, 200) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rk') eq '200' }, 30), '200 jobs delivered');
my $flip = join('', map { "$_\r\n" } 'CONFIG SET maxmemory-policy allkeys-lru', 'CONFIG SET maxmemory 1',
	'PING', 'CONFIG SET maxmemory-policy noeviction', 'CONFIG SET maxmemory 64mb');
my ($out, $err) = ('', '');
IPC::Run::run([ 'redis-cli', '-p', $r->{port}, '--pipe' ], '<', \$flip, '>', \$out, '2>', \$err);
my ($evicted) = redis($r, 'INFO', 'stats') =~ /evicted_keys:(\d+)/;
ok($evicted > 0, "the flip evicted keys ($evicted)");
stopped_with('evicted, policy switched back', $b,
	qr/ERROR: Redis evicted \d+ keys since wal2queue last checked it \(INFO stats evicted_keys \d+, was 0; maxmemory-policy now noeviction\).*set maxmemory-policy noeviction, check the streams/);
stop_redis($r);

# 2b. the same while the bridge's connection is down: seen at the reconnect
$r = start_redis(args => ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction']);
$b = start_bridge($node, $r, '--slot', 'ev2b', '--create-slot', '--tables', 'public.rk',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rk SELECT g FROM generate_series(201, 300) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rk') eq '100' }, 30), '100 jobs delivered');
$flip = join('', map { "$_\r\n" } 'CLIENT KILL TYPE normal SKIPME yes', 'CONFIG SET maxmemory-policy allkeys-lru',
	'CONFIG SET maxmemory 1', 'PING', 'CONFIG SET maxmemory-policy noeviction', 'CONFIG SET maxmemory 64mb');
IPC::Run::run([ 'redis-cli', '-p', $r->{port}, '--pipe' ], '<', \$flip, '>', \$out, '2>', \$err);
stopped_with('evicted while disconnected', $b,
	qr/lost connection to Redis.*\n.*ERROR: Redis evicted \d+ keys since wal2queue last checked it/s);
stop_redis($r);

# 3. volatile-lru evicting other keys (with a TTL) does not stop the bridge
$r = start_redis(args => ['--maxmemory', '4mb', '--maxmemory-policy', 'volatile-lru']);
$b = start_bridge($node, $r, '--slot', 'ev3', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
for my $i (1 .. 12)
{
	redis($r, 'EVAL', "for i = 1, 500 do redis.call('SET', 'cache:' .. ARGV[1] .. ':' .. i, string.rep('x', 1000), 'EX', 3600) end",
		'0', $i);
	$node->safe_psql('postgres', "INSERT INTO rj VALUES (1000 + $i, 'with a cache')");
	usleep(100_000);
}
($evicted) = redis($r, 'INFO', 'stats') =~ /evicted_keys:(\d+)/;
ok($evicted > 0, "volatile-lru: keys with a TTL evicted ($evicted)");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '12' }, 30), 'volatile-lru: every job delivered');
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ev3'") eq 't' }, 30),
	'volatile-lru: and confirmed');
ok($b->{h}->pumpable, 'volatile-lru: the bridge runs on') or diag(bridge_log($b));
stop_bridge($b);
stop_redis($r);

# 4. a Redis that does not answer INFO is not watched: said, and delivered
$r = start_redis(args => ['--rename-command', 'INFO', '']);
$b = start_bridge($node, $r, '--slot', 'ev4', '--create-slot', '--tables', 'public.rk',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', 'INSERT INTO rk VALUES (1000)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.rk') eq '1' }, 30), 'no INFO: delivered');
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ev4'") eq 't' }, 30),
	'no INFO: and confirmed');
like(bridge_log($b), qr/WARNING: Redis did not tell its maxmemory-policy and evicted_keys \(INFO: ERR unknown command/,
	'no INFO: the bridge says it cannot watch for evictions');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
