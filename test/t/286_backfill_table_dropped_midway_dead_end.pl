# Attack 286: a table dropped (or renamed out of the selection) while the
# backfill was reading it leaves a backfill that no command line can
# finish.  run_tables() (backfill.c) looks the recorded table up among
# the selected ones and, not finding it, exits 1 with "hint: finish with
# --backfill-again, or start over"; but existing_slot() sends every start
# with an unfinished backfill to resume_unfinished(), --backfill-again or
# not, so the hinted command fails the same way, a start without
# --backfill is refused (check_unfinished(): "has an unfinished
# backfill"), and the slot holds WAL until someone deletes the sink's
# record and the slot and re-delivers everything.  The rows of the
# dropped table are gone (like deleted rows); the tables after it were
# never delivered.
# Expected: the same command line (or the one the hint names) goes on
# with the next table and finishes.
#
# Fixed: a table dropped since is finished (its rows are gone), logged,
# and the backfill goes on with the next table.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfdropped');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE a_jobs (id int PRIMARY KEY, queue text);
	CREATE TABLE b_jobs (id int PRIMARY KEY, queue text);
	CREATE TABLE c_jobs (id int PRIMARY KEY, queue text);
	INSERT INTO a_jobs SELECT g, 'qa' FROM generate_series(1, 5) g;
	INSERT INTO b_jobs SELECT g, CASE WHEN g = 4 THEN 'bad' ELSE 'qb' END FROM generate_series(1, 9) g;
	INSERT INTO c_jobs SELECT g, 'qc' FROM generate_series(1, 5) g;
});
my @cmd = backfill_cmd('s', 'public.*');

my $br = backfill_stops_on($node, $r, 'bad', 'the first run stops in b_jobs (WRONGTYPE)', @cmd);
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_table'), 'public.b_jobs', 'it was reading b_jobs');
$node->safe_psql('postgres', 'DROP TABLE b_jobs');

my $finished = 0;
for my $extra ([], ['--backfill-again=after-drop'])
{
	$br = start_bridge($node, $r, @cmd, @$extra);
	wait_backfill_done($r, $br, 's');
	my $done = backfill_done($r, 's') eq '1';
	note('with "' . join(' ', @$extra) . '": ' . ($done ? 'done' : 'refused: ' . join(' | ', grep { /ERROR/ } split /\n/, bridge_log($br))));
	stop_bridge($br);
	if ($done) { $finished = 1; last; }
}
ok($finished, 'the same command line, or the hinted --backfill-again, finishes the backfill');
is(redis($r, 'XLEN', 'qc'), '5', 'the table after the dropped one is delivered');
stop_redis($r);
$node->stop;
done_testing();
