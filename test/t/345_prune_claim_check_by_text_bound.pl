# Attack review 9, fixed: prune() deleted a row that the plugin delivered as
# a claim check because of its text BOUND, not its text.  job.c
# (column_text) did not convert a value whose bound (textbound.c) passed
# max(room left, 64MB): the job was counted at the bound and became a claim
# check.  For an array of float8 the bound was 2 + 25 + 1 = 28 bytes an
# element, while the text of 0 is "0," -- 2 bytes: 2,500,000 zeros were
# bounded at 70MB, a claim check under the default 64MB, with a text form
# of 5,000,007 bytes, which the claim_check_floor() of a table with longer
# names (sql/src/30_prune.sql) put below the floor: pruned without force.
# (A numeric array was worse: 147458 bytes bounded per element.)
# Fix: textbound.c measures the elements of arrays, records and ranges that
# are short (fixed-length, numeric, small values: their output function is
# called on them alone), so such an array is bounded by its real text and
# converted; and it gives a lower bound of every text beside the upper one.
# job.c leaves a value unconverted (a claim check made from the bound) only
# when the lower bound is at least max-job-bytes / 16, which
# claim_check_floor() never passes; a value whose text is not proven that
# long (a polygon: 8 times its stored size, no lower bound) is converted
# and measured while its bound is at most 256MB (the largest max-job-bytes).
# Expected: the float8 array and the polygon are delivered whole; the jsonb
# claim check made from its bound is of a row at least the floor and
# survives prune() (without force); the small row is pruned (the control).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_bound');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE public.fj (id bigserial PRIMARY KEY, v float8[], p polygon, j jsonb);
	SELECT wal2queue.append_only('public.fj');
});
my $b = start_bridge($node, $r, '--slot', 'fj', '--create-slot', '--tables', 'public.fj',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'fj'") eq '1' }, 30),
	'the bridge registered its slot (default max-job-bytes, 64MB)') or diag(bridge_log($b));

$node->safe_psql('postgres', q{INSERT INTO fj (v) VALUES (array_fill(0::float8, ARRAY[2500000]))});
$node->safe_psql('postgres', q{
	INSERT INTO fj (p) SELECT ('(' || string_agg('(0,0)', ',') || ')')::polygon
	  FROM generate_series(1, 600000)});
$node->safe_psql('postgres', q{INSERT INTO fj (j) VALUES (to_jsonb(repeat(chr(31), 12 * 1024 * 1024)))});
$node->safe_psql('postgres', q{INSERT INTO fj (v) VALUES ('{1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.fj') eq '4' }, 90), 'all four delivered')
	or diag(bridge_log($b));
my @entries = @{ stream_entries($r, 'public.fj') };
my @cc = grep { ($_->[1]{wal2queue_claim_check} // '') eq 't' } @entries;
is(scalar @cc, 1, 'one claim check') or diag(explain [ map { $_->[1]{key} } @cc ]);
is($cc[0][1]{key}, '3', 'of the jsonb row, made from its bound (72MB, proven over 4MB)');
is(scalar(grep { ($_->[1]{id} // '') eq '1' && length($_->[1]{v} // '') > 5000000 } @entries), 1,
	'the float8 array is delivered whole: bounded by its measured elements');
is(scalar(grep { ($_->[1]{id} // '') eq '2' && length($_->[1]{p} // '') > 3600000 } @entries), 1,
	'the polygon is delivered whole: converted and measured, not claim-checked from 8 times its size');
ok(wait_attested($node, 'fj', 30), 'the bridge attests its slot');
my $floor = $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.fj')");
my $len = $node->safe_psql('postgres', "SELECT octet_length(ROW(f.*)::text) FROM fj f WHERE id = 3");
diag("claim-check floor $floor, the claim-checked row's text form $len bytes");
ok($len >= $floor, 'the claim-checked row is at least the floor');

my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.fj')");
	last if $node->safe_psql('postgres', "SELECT count(*) FROM fj WHERE id = 4") eq '0';
}
diag("prune deleted $deleted rows");
whole_pruned_claim_check_kept($node, 'fj', "id = 4", "id = 3");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
