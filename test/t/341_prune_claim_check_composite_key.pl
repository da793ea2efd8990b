# Attack review 9: prune() deletes a claim-checked row of a table with a
# composite primary key, no route column.  claim_check_floor()
# (sql/src/30_prune.sql) assumes the key costs at most 6 bytes a byte of row
# text ("the key is JSON-escaped").  A composite key (plugin/job.c row_key)
# is a JSON array of the parts, each escaped (\u0001: 6 bytes), and that
# array's text is escaped AGAIN as the job's key string
# (w2q_json_string_size: the backslash doubles): 7 bytes a control
# character.  With --max-job-bytes 8kB the key alone passes M/2 at 584
# control characters; the floor is 682; a row of 600 is a claim check and
# is pruned without force.
# Expected: a claim-checked row survives prune() (without force).
# Fixed: claim_check_floor() counts a composite key escaped twice and a
# key that is also the route value, min((M - 2O) / 9, (M/2 - O) / 8).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_ckey');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE public.ck (a text, b int, PRIMARY KEY (a, b));
	SELECT wal2queue.append_only('public.ck');
});
my $b = start_registered_bridge($node, $r, slot => 'ck',
	args => [ '--tables', 'public.ck', '--max-job-bytes', '8kB' ]);

$node->safe_psql('postgres', q{INSERT INTO ck VALUES (repeat(chr(1), 600), 1)});
$node->safe_psql('postgres', q{INSERT INTO ck VALUES ('small', 2)});
ok(wait_until(sub { redis($r, 'XLEN', 'public.ck') eq '2' }, 30), 'both delivered')
	or diag(bridge_log($b));
my @cc = grep { ($_->[1]{wal2queue_claim_check} // '') eq 't' }
	@{ stream_entries($r, 'public.ck') };
is(scalar @cc, 1, 'the long-keyed row is a claim check: its content is only in the table');
ok(wait_attested($node, 'ck', 30), 'the bridge attests its slot');
my $floor = $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.ck')");
my $len = $node->safe_psql('postgres',
	"SELECT octet_length(ROW(c.*)::text) FROM ck c WHERE b = 1");
diag("claim-check floor $floor, the row's text form $len bytes");
ok($len >= $floor, "the claim-checked row is at or above the floor ($len >= $floor): 8 bytes of job a byte of key");

my $deleted = prune_until($node, 1, tries => 6, table => 'public.ck');
diag("prune deleted $deleted rows");
whole_pruned_claim_check_kept($node, 'ck', "b = 2", "b = 1");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
