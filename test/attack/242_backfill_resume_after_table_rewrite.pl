# Open: a resumed backfill silently skips every row a table rewrite touched.
# A resume reads the rows past the last key in a new snapshot and keeps only
# those whose xmin the saved snapshot sees (backfill_sql.c:bf_page(),
# visible_in).  ALTER TABLE ... ALTER COLUMN ... TYPE (or ADD COLUMN with a
# volatile DEFAULT, SET ACCESS METHOD) rewrites the table: every row gets the
# ALTER's xid as xmin, no row is UPDATEd and the stream decodes nothing of a
# rewrite.  So after a bridge stopped mid-backfill, an operator's ALTER
# before the restart makes the resume skip every remaining row; the backfill
# says "done" and they are never delivered (docs/operations.md's "Limits of
# a resume" names UPDATE and DELETE only).  Here the first run stops after
# page 1 because page 2 routes a row into a key of another type; the
# operator frees the key, widens a column, restarts the same command line.
# Expected: all 9 rows delivered once (or the resume refuses, naming the
# rewrite, instead of finishing).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfrewrite');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, n int);
	INSERT INTO jobs SELECT g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END, g FROM generate_series(1, 9) g;
});
redis($r, 'SET', 'bad', 'a string');
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--backfill-batch', '3',
	'--tables', 'public.jobs', '--route-column', 'queue', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the first run stops at page 2 (WRONGTYPE)');
$b->{h}->finish;
like(bridge_log($b), qr/holds a string, not a stream/, 'named');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '3', 'page 1 is recorded');
redis($r, 'DEL', 'bad');
$node->safe_psql('postgres', 'ALTER TABLE jobs ALTER COLUMN n TYPE bigint');
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1' || !$b->{h}->pumpable }, 30),
	'the resume ends');
sleep 1;
my $got = redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad');
note(bridge_log($b));
is($got, 9, 'every row of the table delivered (or the resume refused)')
  or diag("delivered $got of 9; backfill_done = " . redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done'));
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
