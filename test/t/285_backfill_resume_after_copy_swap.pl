# Attack 285: a table replaced under its name between a crash and the
# resume (the copy-and-swap of online schema change tools such as
# pg-osc: CREATE TABLE jobs_new (LIKE jobs), INSERT ... SELECT, then
# RENAME jobs to jobs_old and jobs_new to jobs) loses every row the
# backfill had not reached, silently.  The rows of the new table carry
# the copy's xid, which the saved snapshot does not see, so the resume's
# filter skips them; the stream decoded the copy as inserts into
# public.jobs_new, which --tables public.jobs does not select.  An ALTER
# TABLE rewrite of the same rows is refused (test/t/242), but
# bf_storage_check() (backfill_rewrite.c) compares relfilenodes by oid
# (LEAVES_SQL's LEFT JOIN on the saved "oid:relfilenode" list) and a
# relation whose oid the saved storage does not hold is taken as "the
# same" without any check.
# Expected: rows 4-9 delivered (at least once), or the resume refused as
# for a rewrite.
#
# Fixed: a relation under a selected table whose oid the saved storage
# does not hold is checked as a rewrite (refused unless
# --backfill-after-rewrite).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfswap');
my $r = start_redis();
backfill_jobs_table($node);
my @cmd = backfill_cmd('s', 'public.jobs');

my $br = backfill_stops_on($node, $r, 'bad', 'the first run stops at page 2 (WRONGTYPE)', @cmd);
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '3', 'rows 1-3 delivered');

# the copy and swap, as an online schema change tool does it
$node->safe_psql('postgres', q{
	CREATE TABLE jobs_new (LIKE jobs INCLUDING ALL);
	INSERT INTO jobs_new SELECT * FROM jobs;
	BEGIN;
	ALTER TABLE jobs RENAME TO jobs_old;
	ALTER TABLE jobs_new RENAME TO jobs;
	COMMIT;
	DROP TABLE jobs_old;
});

$br = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $br, 's');
sleep 2;
my $done = backfill_done($r, 's');
my @missing = missing_ids($r, [ 1 .. 9 ], 'q', 'bad', 'public.jobs', 'public.jobs_new');
note("done=$done, missing: @missing");
ok($done ne '1' || !@missing, 'every row at least once, or the resume refused') or diag(bridge_log($br));
like(bridge_log($br), qr/public\.jobs is another relation than the backfill's snapshot read/,
	'the refusal names the replaced table');
like(bridge_log($br), qr/read relations \(oid \d+\) under the selected tables not finished yet that were dropped since/,
	'the table swapped out and dropped is reported');
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
