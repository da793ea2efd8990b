# Attack 289: a partition detached between a crash and the resume is
# skipped silently, and its rows are never delivered once it is attached
# again (partition maintenance: detach, work on it, attach back).  The
# first state records every leaf's "oid:relfilenode" (backfill_storage),
# but bf_storage_check() (backfill_rewrite.c) only walks the leaves the
# table has at the resume: a recorded leaf that is gone is not looked
# for, the resume reads the root without it and records the backfill
# done; ATTACH is not decoded, so the stream never delivers those rows
# either.  Without the crash the backfill (which holds ACCESS SHARE on the
# root while it reads) would have delivered them.
# Expected: the resume refused while a recorded partition is missing
# (naming it), or rows 6-9 delivered once the partition is back.
#
# Fixed: a recorded partition of a table not finished yet that is under no
# selected table is refused, named, until it is back.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfdetach');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text) PARTITION BY RANGE (id);
	CREATE TABLE jobs_1 PARTITION OF jobs FOR VALUES FROM (1) TO (6);
	CREATE TABLE jobs_2 PARTITION OF jobs FOR VALUES FROM (6) TO (100);
	INSERT INTO jobs SELECT g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END FROM generate_series(1, 9) g;
});
my @cmd = backfill_cmd('s', 'public.jobs');

my $br = backfill_stops_on($node, $r, 'bad', 'the first run stops at page 2', @cmd);

$node->safe_psql('postgres', 'ALTER TABLE jobs DETACH PARTITION jobs_2');
$br = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $br, 's');
my $refused = !$br->{h}->pumpable;
like(bridge_log($br), qr/public\.jobs_2, which the backfill's snapshot read/, 'refused naming the partition');
$node->safe_psql('postgres', 'ALTER TABLE jobs ATTACH PARTITION jobs_2 FOR VALUES FROM (6) TO (100)');
sleep 2;
stop_bridge($br) unless $refused;
if ($refused)
{
	# refused while the partition was away: the same command line now
	$br = start_bridge($node, $r, @cmd);
	wait_backfill_done($r, $br, 's');
	sleep 1;
	stop_bridge($br);
}
my @missing = missing_ids($r, [ 1 .. 9 ], 'q', 'bad');
note(($refused ? 'refused' : 'resumed') . ', done=' . backfill_done($r, 's')
	  . ", missing: @missing");
ok(!@missing, 'rows 6-9 delivered once the partition is back');
stop_redis($r);
$node->stop;
done_testing();
