# Found by attack review 11 (fixed): --max-job-bytes 010000 was read as 4096
# by the plugin and registered as 10000, so prune() deleted rows the plugin
# had made claim checks of.  The plugin parsed its option with the server's
# GUC integer parser (parse_int(): strtol(value, &end, 0), a leading 0 is
# octal, 0x hexadecimal), while the bridge registered the same text through
# pg_size_bytes() (decimal).  The registry held a LARGER max_job_bytes than
# the slot was read with, claim_check_floor() was computed for 10000 bytes
# (567 instead of 198), and a row whose key (also its route value) is 300
# control characters, a claim check at 4096, with a text form of 349 bytes,
# was pruned without force.  (0x1000: pg_size_bytes refused it,
# register_slot() failed with a WARNING and the slot stayed unregistered.)
# Fixed: one grammar, decimal only (common/bytesize.c): the plugin
# (plugin/options.c) reads 010000 as 10000 and refuses 0x1000 with an ERROR
# naming the option; the bridge checks --max-job-bytes by the same grammar
# before connecting (exit 2 for 0x1000) and gives the plugin and the
# registry the same byte count.  Here: the registry holds 10000, the
# 300-character row fits in 10000 bytes and is delivered whole (then
# pruned, rightly), and a row with an 800-character key, a claim check at
# 10000, survives prune() without force.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_octal');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});

my ($code, $out) = run_bridge('-d', $node->connstr('postgres'),
	'--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'jobs', '--create-slot',
	'--tables', 'public.jobs', '--max-job-bytes', '0x1000');
is($code, 2, '--max-job-bytes 0x1000: a usage error (decimal only)') or diag($out);
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'--max-job-bytes 0x1000: no slot created');

my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--key-column', 'queue', '--max-job-bytes', '010000',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
is($node->safe_psql('postgres', "SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"),
	'10000', 'the registry holds 010000 as 10000 bytes');

$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES (repeat(chr(1), 300), '{"n": 1}')});
$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES (repeat(chr(1), 800), '{"n": 3}')});
$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES ('small', '{"n": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'small') eq '1' }, 30), 'the small job is delivered')
	or diag(bridge_log($b));
# the jobs of the two big-keyed rows: whole (by the length of their key) or
# claim checks (which leave out a key that takes half the limit)
my (@whole, $ncc);
for my $k (split /\n/, redis($r, 'KEYS', '*'))
{
	next if $k eq 'small' || $k =~ /^wal2queue/;
	for my $e (@{ stream_entries($r, $k) })
	{
		if (($e->[1]{wal2queue_claim_check} // '') eq 't')
		{
			$ncc++;
		}
		else
		{
			push @whole, length($e->[1]{queue} // '');
		}
	}
}
is("@whole", '300', 'the 300-character row is delivered whole: the plugin reads 010000 as 10000, '
	. 'not 4096');
is($ncc, 1, 'the 800-character row is a claim check at 10000');
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
diag('claim-check floor ' . $node->safe_psql('postgres',
	"SELECT wal2queue.claim_check_floor('public.jobs')"));

my $deleted = prune_until_gone($node, "length(queue) < 800", 6);
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE length(queue) < 800"), '0',
	'the rows delivered whole are pruned');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE length(queue) = 800"), '1',
	'the row behind the claim check is still there for its worker');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
