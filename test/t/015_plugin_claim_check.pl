# A row larger than max-job-bytes (default 64MB) never wedges the slot:
# the bridge delivers its claim check (a row of wal2queue.claim_check naming
# table, key, LSN, seq and size) in its place, and the jobs after it.
# The 65MB value is never expanded: its stored size alone decides.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('claim', conf => $ENV{W2Q_TEST_CONF} // '');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE public.jobs (id int PRIMARY KEY, body text)');
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }),
	'bridge streaming');

$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1, repeat(chr(1), 65 * 1024 * 1024))");
my $before = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (2, 'after')");
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) == 2 }, 60),
	'the claim check and the next job are delivered');
my $e = stream_entries($r, 'public.jobs');
my $cc = $e->[0][1];
is($cc->{wal2queue_claim_check}, 't', 'the first is a claim check');
is($cc->{kind}, 'row', 'for a row');
is($cc->{table}, 'public.jobs', 'of public.jobs');
is($cc->{key}, '1', 'with its key');
is($cc->{key_columns}, '["id"]', 'and the key columns');
is($cc->{seq}, '0', 'and seq');
like($cc->{lsn}, qr{^[0-9A-F]+/[0-9A-F]+$}, 'and the commit LSN');
cmp_ok($cc->{size}, '>', 64 * 1024 * 1024, 'its size is over the limit');
is($e->[1][1]{body}, 'after', 'the next job follows');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn > '$before' FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 't' }, 30),
	'the slot moves on past both');
# a large job under the limit is sent in a message of its own, between
# the transaction's other records: the bridge delivers all three
$node->safe_psql('postgres', q{BEGIN;
	INSERT INTO jobs VALUES (3, 'before');
	INSERT INTO jobs VALUES (4, repeat('y', 200000));
	INSERT INTO jobs VALUES (5, 'after');
	COMMIT;});
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) == 5 }, 60),
	'a transaction with a large job in a message of its own is delivered');
$e = stream_entries($r, 'public.jobs');
is(join(',', map { length($_->[1]{body}) } @$e[2 .. 4]), '6,200000,5', 'whole and in order');
stop_bridge($b);

# the bridge's --max-job-bytes sets the plugin's limit; a bad value is the
# plugin's error naming the option, and exit 1
$b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs', '--max-job-bytes', '1kB',
	'--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (6, repeat('z', 4000))");
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) == 6 }, 60), '--max-job-bytes=1kB: delivered');
$e = stream_entries($r, 'public.jobs');
is($e->[5][1]{wal2queue_claim_check}, 't', '--max-job-bytes=1kB: a 4000-byte row becomes a claim check');
stop_bridge($b);
my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'jobs',
	'--sink', "redis://127.0.0.1:$r->{port}", '--max-job-bytes', '12parsecs');
is($code, 2, '--max-job-bytes with a bad value: a usage error, exit 2');
like($out, qr/max-job-bytes/, 'the error names the option');
stop_redis($r);
$node->stop;
done_testing();
