# Issue 13: "keyset pagination in bounded batches (memory bounded whatever
# the table size)".  A table of about 100 MB (40,000 rows of 2.5 kB) is
# backfilled into Redis in pages of 500 rows: the bridge's peak resident
# memory (VmHWM) stays far below the table's size (a bridge that read the
# table in one query would hold all of it), and every row arrives once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfmem');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, pad text NOT NULL);
	ALTER TABLE jobs ALTER COLUMN pad SET STORAGE PLAIN;
	INSERT INTO jobs SELECT g, repeat(md5(g::text), 78) FROM generate_series(1, 40000) g;
});
my $size = $node->safe_psql('postgres', q{SELECT pg_table_size('jobs') / 1024});
note("table size: $size kB");
ok($size > 100_000, 'the table holds more than 100 MB');

my $b = start_bridge($node, $r, '--slot', 'bfmem', '--create-slot', '--backfill', '--backfill-batch', '500',
	'--tables', 'public.jobs', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bfmem" done: 40000 rows/ || !$b->{h}->pumpable }, 300),
	'backfilled 40,000 rows') or diag(substr(bridge_log($b), -2000));
my $pid = $b->{h}{KIDS}[0]{PID};
my ($hwm) = slurp_file("/proc/$pid/status") =~ /VmHWM:\s+(\d+) kB/;
note("the bridge's peak resident memory: $hwm kB");
# AddressSanitizer's shadow memory and quarantine are not the bridge's
my $cap_kb = $ENV{W2Q_SANITIZE} ? 1e9 : 60_000;
ok($hwm < $cap_kb, "the bridge's peak memory ($hwm kB) stays below 60 MB (unless sanitized)");
like(bridge_log($b), qr/backfill of public\.jobs: \d+ of ~\d+ rows/, 'progress in the log');
is(redis($r, 'XLEN', 'public.jobs'), '40000', 'every row in the stream');
my $ids = redis($r, 'EVAL', q{local n, seen = 0, {}
	for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
		local f = e[2]
		for j = 1, #f, 2 do if f[j] == 'id' then seen[f[j + 1]] = (seen[f[j + 1]] or 0) + 1 end end
	end
	for _, c in pairs(seen) do if c == 1 then n = n + 1 end end
	return n}, '1', 'public.jobs');
is($ids, '40000', 'each of them once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
