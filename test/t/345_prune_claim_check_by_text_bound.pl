# Attack review 9: prune() deletes a row that the plugin delivered as a claim
# check because of its text BOUND, not its text.  job.c (column_text) does
# not convert a value whose bound (textbound.c) passes max(room left, 64MB):
# the job is counted at the bound and becomes a claim check.  For an array
# of float8 the bound is 2 + 25 + 1 = 28 bytes an element, while the text of
# 0 is "0," -- 2 bytes.  claim_check_floor() (sql/src/30_prune.sql) assumes
# a claim-checked row's text form is at least min((M - O) / 8, ...) bytes:
# "the row's text form holds every value's text".  2,500,000 zeros: bound
# 70MB, a claim check with the default 64MB; text form 5,000,007 bytes, below
# the floor of 5,592,405: pruned without force.
# Expected: a claim-checked row survives prune() (without force).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_bound');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE public.fj (id bigserial PRIMARY KEY, v float8[]);
	SELECT wal2queue.append_only('public.fj');
});
my $b = start_bridge($node, $r, '--slot', 'fj', '--create-slot', '--tables', 'public.fj',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'fj'") eq '1' }, 30),
	'the bridge registered its slot (default max-job-bytes, 64MB)') or diag(bridge_log($b));

$node->safe_psql('postgres', q{INSERT INTO fj (v) VALUES (array_fill(0::float8, ARRAY[2500000]))});
$node->safe_psql('postgres', q{INSERT INTO fj (v) VALUES ('{1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.fj') eq '2' }, 60), 'both delivered')
	or diag(bridge_log($b));
my @cc = grep { ($_->[1]{wal2queue_claim_check} // '') eq 't' }
	@{ stream_entries($r, 'public.fj') };
is(scalar @cc, 1, 'the array row is a claim check: its content is only in the table');
ok(wait_attested($node, 'fj', 30), 'the bridge attests its slot');
my $floor = $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.fj')");
my $len = $node->safe_psql('postgres', "SELECT octet_length(ROW(f.*)::text) FROM fj f WHERE id = 1");
diag("claim-check floor $floor, the row's text form $len bytes");
ok($len < $floor, 'the claim-checked row is below the floor');

my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.fj')");
	last if $deleted >= 1;
}
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM fj WHERE id = 2"), '0',
	'the small row, delivered whole, is pruned (the control)');
is($node->safe_psql('postgres', "SELECT count(*) FROM fj WHERE id = 1"), '1',
	'the row behind the claim check is still there for its worker');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
