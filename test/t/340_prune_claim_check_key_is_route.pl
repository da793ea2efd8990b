# Attack review 9: prune() deletes a claim-checked row whose text form is below
# wal2queue.claim_check_floor().  The floor (sql/src/30_prune.sql) bounds a
# job's key and route value by (M/2 - 2) / 6 bytes of row text: "the key is
# JSON-escaped (at most 6 bytes a byte) and the route value is plain", each
# counted as a separate value of the row.  But the plugin (plugin/job.c,
# row_key_and_target) makes a claim check when the key's JSON size PLUS the
# route value's size exceed M/2, and --key-column and --route-column may
# name the SAME column: its text is in the row once but costs 6 + 1 = 7 bytes
# a byte in the job.  A queue value of 590 control characters (row text about
# 640 bytes, floor 682 for --max-job-bytes 8kB) is delivered as a claim check
# and prune() without force deletes the row before its worker read it.
# (A composite key is worse: row_key() escapes each part into a JSON array
# and the array is escaped again, 7 bytes a control character.)
# Expected: a claim-checked row survives prune() (without force).
# Fixed: claim_check_floor() counts a composite key escaped twice and a
# key that is also the route value, min((M - 2O) / 9, (M/2 - O) / 8).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_keyroute');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $b = start_registered_bridge($node, $r, slot => 'jobs', args => [ '--tables', 'public.jobs',
	'--route-column', 'queue', '--key-column', 'queue', '--max-job-bytes', '8kB' ]);

$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES (repeat(chr(1), 590), '{"n": 1}')});
$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES ('small', '{"n": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'small') eq '1' }, 30), 'the small job is delivered')
	or diag(bridge_log($b));
my $cc = 0;
for my $k (split /\n/, redis($r, 'KEYS', '*'))
{
	next if $k eq 'small' || $k =~ /^wal2queue/;
	for my $e (@{ stream_entries($r, $k) })
	{
		$cc++ if ($e->[1]{wal2queue_claim_check} // '') eq 't';
	}
}
is($cc, 1, 'the big-keyed one is a claim check: its content is only in the table')
	or diag(redis($r, 'KEYS', '*'));
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
my $floor = $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')");
my $len = $node->safe_psql('postgres',
	"SELECT octet_length(ROW(j.*)::text) FROM jobs j WHERE queue <> 'small'");
diag("claim-check floor $floor, the row's text form $len bytes");
ok($len >= $floor, "the claim-checked row is at or above the floor ($len >= $floor): 8 bytes of job a byte of key");

my $deleted = prune_until($node, 1, tries => 6);
diag("prune deleted $deleted rows");
whole_pruned_claim_check_kept($node, 'jobs', "queue = 'small'", "queue <> 'small'");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
