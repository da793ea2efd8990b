# Open: a condition that errors on a row mid-table leaves a backfill that no
# command line can finish exactly once.  The condition is evaluated row by
# row, so "n::int > 0" passes page 1 and fails on page 2 at a row whose n is
# not a number (exit 1).  The fixed condition is then refused:
# backfill.c:existing_slot() lets an unfinished backfill take a new condition
# only while it delivered no row ("after that it keeps its own",
# docs/operations.md), the old one fails on the same row forever, and
# --backfill-again is not considered while the backfill is unfinished; what
# is left is a fresh start (drop the slot, delete the record: every row again).
# Expected: a corrected condition can finish the backfill (with a warning,
# or with an explicit option), rows 1-3 not delivered twice.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfcondmid');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, n text);
	INSERT INTO jobs SELECT g, CASE WHEN g = 5 THEN 'x' ELSE g::text END FROM generate_series(1, 9) g;
});
my @common = ('--slot', 's', '--create-slot', '--backfill-batch', '3', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @common, '--backfill', 'n::int > 0');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the condition fails on page 2');
$b->{h}->finish;
like(bridge_log($b), qr/invalid input syntax for type integer/, 'named');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '3', 'page 1 was delivered');
# the operator corrects the condition
$b = start_bridge($node, $r, @common, '--backfill', q{CASE WHEN n ~ '^[0-9]+$' THEN n::int > 0 END});
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1' || !$b->{h}->pumpable }, 10) && redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1',
	'the corrected condition finishes the backfill') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'public.jobs'), '8', 'rows 1-4 and 6-9, once');
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
