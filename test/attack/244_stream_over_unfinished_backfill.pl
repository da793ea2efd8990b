# Open: a bridge started without --backfill streams a slot whose backfill is
# unfinished, silently.  The rows the backfill had not reached are never
# delivered and nothing says so: backfill_run() (backfill.c) returns at once
# without --backfill, and neither the stream's start (bridge.c) nor the
# Redis sink looks at the record's backfill_done.  An operator who takes
# --backfill for a one-time option (the migration guide's first step) and
# drops it from the unit after a crash loses the rest of the table.
# Here the first run stops after page 1 (page 2 routes a row into a key of
# another type), the key is freed, the bridge is started without --backfill.
# Expected: it refuses (exit 1, naming the unfinished backfill and the
# --backfill it needs) or the 6 remaining rows are delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfunfinished');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs SELECT g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END FROM generate_series(1, 9) g;
});
redis($r, 'SET', 'bad', 'a string');
my @common = ('--slot', 's', '--tables', 'public.jobs', '--route-column', 'queue', '--status-interval', '1');
my $b = start_bridge($node, $r, @common, '--create-slot', '--backfill', '--backfill-batch', '3');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the first run stops at page 2');
$b->{h}->finish;
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done'), '0', 'the backfill is unfinished');
redis($r, 'DEL', 'bad');
$b = start_bridge($node, $r, @common);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (10, 'q')});
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'q') >= 10 }, 8);
my $got = redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad');
ok(!$b->{h}->pumpable || $got == 10,
	'without --backfill the bridge refuses the unfinished backfill, or every row arrives')
  or diag("the bridge streams; $got of 10 rows delivered\n" . bridge_log($b));
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
