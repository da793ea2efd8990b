# Fixed (attack 242): a resumed backfill silently skipped every row a table
# rewrite touched.  A resume keeps the rows whose xmin the saved snapshot
# sees (backfill_sql.c:bf_page(), visible_in); ALTER TABLE ... ALTER COLUMN
# ... TYPE (or ADD COLUMN with a volatile DEFAULT, SET ACCESS METHOD)
# rewrites the table, every row gets the ALTER's xid as xmin and the stream
# decodes nothing of a rewrite, so the backfill said "done" with 3 of 9
# rows.  The fix (backfill_rewrite.c): the first state records every
# selected relation's relfilenode; a resume that finds another one refuses
# (exit 1) naming the table, the rewrite and the command that finishes at
# least once (--backfill-after-rewrite: its rest read without the snapshot
# filter), unless the table still holds a row whose unfrozen xmin the saved
# snapshot sees: then the rewrite kept the rows' xmin (VACUUM FULL,
# CLUSTER) and the resume goes on, exactly once.
# Here the first run stops after page 1 because page 2 routes a row into a
# key of another type; the operator frees the key, rewrites the table and
# restarts the same command line.
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
	CREATE TABLE pjobs (id int PRIMARY KEY, queue text, n int) PARTITION BY RANGE (id);
	CREATE TABLE pjobs_1 PARTITION OF pjobs FOR VALUES FROM (1) TO (6);
	CREATE TABLE pjobs_2 PARTITION OF pjobs FOR VALUES FROM (6) TO (100);
	INSERT INTO pjobs SELECT g, CASE WHEN g = 4 THEN 'pbad' ELSE 'pq' END, g FROM generate_series(1, 9) g;
	CREATE TABLE jobs2 (id int PRIMARY KEY, queue text, n int);
	INSERT INTO jobs2 SELECT g, CASE WHEN g = 4 THEN 'bad2' ELSE 'q2' END, g FROM generate_series(1, 9) g;
});

# the first run of a slot over a table stops at page 2 (WRONGTYPE)
sub first_run
{
	my ($slot, $bad, @cmd) = @_;
	my $br = backfill_stops_on($node, $r, $bad, "$slot: the first run stops at page 2 (WRONGTYPE)", @cmd);
	like(bridge_log($br), qr/holds a string, not a stream/, "$slot: named");
	is(redis($r, 'HGET', "wal2queue:progress:$slot", 'backfill_rows'), '3', "$slot: page 1 is recorded");
}

# 1. ALTER TABLE ... TYPE: refused with the command, which then finishes
my @cmd = backfill_cmd('s', 'public.jobs');
first_run('s', 'bad', @cmd);
$node->safe_psql('postgres', 'ALTER TABLE jobs ALTER COLUMN n TYPE bigint');
my $br = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'the resume after the ALTER stops');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'with exit status 1');
my $log = bridge_log($br);
like($log, qr/cannot resume the backfill of table public\.jobs: public\.jobs was rewritten since the backfill's snapshot \(relfilenode \d+, now \d+\).*its rows after key \["3"\] are not delivered yet/,
	'names the table, the rewrite and the position');
like($log, qr/finish the backfill at least once .* with: wal2queue-bridge .*--backfill-after-rewrite$/m,
	'names the command that finishes at least once');
is(backfill_done($r, 's'), '0', 'not done');
is(redis($r, 'XLEN', 'q'), '3', 'nothing past page 1 delivered');

$br = start_bridge($node, $r, @cmd, '--backfill-after-rewrite');
ok(wait_backfill_done($r, $br, 's'), '--backfill-after-rewrite finishes the backfill') or diag(bridge_log($br));
like(bridge_log($br), qr/--backfill-after-rewrite: reading its rows without the snapshot filter: at least once/,
	'saying so');
my $seen = field_counts($r, 'id', 'q', 'bad');
is(scalar(keys %$seen), 9, 'every row of the table delivered');
is(scalar(grep { $_ != 1 } values %$seen), 0, 'each once');
stop_bridge($br);

# 2. VACUUM FULL and CLUSTER keep the rows' xmin: the same command line
# resumes, exactly once, and a row inserted meanwhile comes once (stream)
my @cmd2 = backfill_cmd('s2', 'public.jobs2');
first_run('s2', 'bad2', @cmd2);
my $fn = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('jobs2')});
$node->safe_psql('postgres', q{
	INSERT INTO jobs2 VALUES (10, 'q2', 10);
	VACUUM FULL jobs2;
	CLUSTER jobs2 USING jobs2_pkey;
});
isnt($node->safe_psql('postgres', q{SELECT pg_relation_filenode('jobs2')}), $fn, 'jobs2 has a new relfilenode');
$br = start_bridge($node, $r, @cmd2);
ok(wait_until(sub { scalar(keys %{ field_counts($r, 'id', 'q2', 'bad2') }) >= 10 || !$br->{h}->pumpable }, 30),
	'the resume after VACUUM FULL and CLUSTER finishes') or diag(bridge_log($br));
sleep 1;
is(backfill_done($r, 's2'), '1', 'done');
$seen = field_counts($r, 'id', 'q2', 'bad2');
is(join(',', sort { $a <=> $b } keys %$seen), join(',', 1 .. 10), 'rows 1-9 and the new row 10');
is(scalar(grep { $_ != 1 } values %$seen), 0, 'each once');
unlike(bridge_log($br), qr/rewritten/, 'no rewrite reported');
stop_bridge($br);

# 3. a partitioned table: its partitions' storage is checked, each named
my @cmd3 = backfill_cmd('s3', 'public.pjobs');
first_run('s3', 'pbad', @cmd3);
$node->safe_psql('postgres', 'ALTER TABLE pjobs ALTER COLUMN n TYPE bigint');
$br = start_bridge($node, $r, @cmd3);
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'partitioned: the resume after the ALTER stops');
$br->{h}->finish;
like(bridge_log($br), qr/cannot resume the backfill of table public\.pjobs: public\.pjobs_1 was rewritten since the backfill's snapshot/,
	'partitioned: naming the partition');
$br = start_bridge($node, $r, @cmd3, '--backfill-after-rewrite');
ok(wait_until(sub { backfill_done($r, 's3') eq '1' || !$br->{h}->pumpable }, 30),
	'partitioned: --backfill-after-rewrite finishes') or diag(bridge_log($br));
$seen = field_counts($r, 'id', 'pq', 'pbad');
is(join(',', sort { $a <=> $b } keys %$seen), join(',', 1 .. 9), 'partitioned: every row');
is(scalar(grep { $_ != 1 } values %$seen), 0, 'partitioned: each once');
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
