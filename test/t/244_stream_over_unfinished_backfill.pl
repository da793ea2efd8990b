# Fixed: backfill.c:check_unfinished() -- without --backfill, a bridge whose
# sink records an unfinished backfill of the slot (backfill_done=0) exits 1
# at start naming it and the command line that resumes it, with
# --backfill=<the recorded condition>; that command line finishes it.
#
# The attack: a bridge started without --backfill streams a slot whose backfill is
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
my $cond = q{id > 0 AND queue <> 'x'};
my $b = start_bridge($node, $r, @common, '--create-slot', "--backfill=$cond", '--backfill-batch', '3');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the first run stops at page 2');
$b->{h}->finish;
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done'), '0', 'the backfill is unfinished');
redis($r, 'DEL', 'bad');
$b = start_bridge($node, $r, @common);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (10, 'q')});
ok(wait_until(sub { !$b->{h}->pumpable }, 20), 'without --backfill the bridge stops')
  or diag(bridge_log($b));
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'exit 1');
my $log = bridge_log($b);
like($log, qr/replication slot "s" has an unfinished backfill \(3 rows delivered, condition "\Q$cond\E"\)/,
	'it names the unfinished backfill and its condition');
my $quoted = q{--backfill='id > 0 AND queue <> '\''x'\'''};
like($log, qr/resume the backfill with: \S*wal2queue-bridge .*--slot s .* --create-slot \Q$quoted\E$/m,
	'it names the command line that resumes it, with the recorded condition');
unlike($log, qr/--recreate-lost-slot --backfill/, 'not the lost-slot recovery line');
is(redis($r, 'XLEN', 'q'), '3', 'nothing streamed past the unfinished backfill');
# the resuming command line finishes the backfill, then the stream delivers row 10
$b = start_bridge($node, $r, @common, "--create-slot", "--backfill=$cond");
ok(wait_until(sub { redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad') >= 10 }, 30),
	'with --backfill=<its condition> every row arrives') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad'), 10, 'each once');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done'), '1', 'the backfill is done');
stop_bridge($b);
# a finished backfill does not stop a start without --backfill
$b = start_bridge($node, $r, @common);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "s"/ || !$b->{h}->pumpable }, 20)
	&& $b->{h}->pumpable, 'a finished backfill: the bridge streams') or diag(bridge_log($b));
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
