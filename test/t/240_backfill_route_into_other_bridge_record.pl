# Fixed: redis_backfill.c:entry_key() diverts a route value by the stream
# path's rule, redis_target.c:redis_reserved_key() (shared): any key containing
# "wal2queue:progress:" or "wal2queue:stage:" goes to the table's stream with
# a warning.
#
# The attack: the backfill writes a row into another bridge's bookkeeping, the rule
# of TAP 207/215 is the stream path's only.  redis_backfill.c:entry_key()
# diverts a route value to the table's stream only when it starts with
# "wal2queue:" (the bridge's own keys under its prefix); redis_target.c's
# redis_check_target() also diverts any key containing "wal2queue:progress:" or
# "wal2queue:stage:" (another bridge's record, whatever its prefix).  Bridge
# B (--target-prefix jobs:) keeps its record at "jobs:wal2queue:progress:b";
# a pending row of bridge A's table routed to that name makes A's backfill
# page hit a hash: WRONGTYPE, exit 1, and the same command line fails
# forever on the same page (one row of data stops the pipeline).  Before B
# ever ran, the page plants a stream where B keeps its record.
# Expected: as streamed rows, the row goes to its table's stream with a
# warning, the backfill finishes, B's record stays a hash.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfrouteother');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs VALUES (1, 'emails'), (2, 'jobs:wal2queue:progress:b'), (3, 'emails');
});
# bridge B's record (another prefix, another slot)
redis($r, 'HSET', 'jobs:wal2queue:progress:b', 'sysid', '1', 'lsn', '0/1');
my $b = start_bridge($node, $r, '--slot', 'a', '--create-slot', '--backfill',
	'--tables', 'public.jobs', '--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:a', 'backfill_done') eq '1'
	  || !$b->{h}->pumpable }, 30) && $b->{h}->pumpable
	&& redis($r, 'HGET', 'wal2queue:progress:a', 'backfill_done') eq '1',
	'the backfill finishes and the bridge runs') or diag(bridge_log($b));
is(redis($r, 'TYPE', 'jobs:wal2queue:progress:b'), 'hash', 'bridge b\'s record is untouched');
is(redis($r, 'XLEN', 'emails'), '2', 'the two ordinary rows are delivered');
is(redis($r, 'XLEN', 'public.jobs'), '1', 'the hostile row goes to its table\'s stream');
# before B's first run: the backfill must not plant a stream at B's record
redis($r, 'DEL', 'jobs:wal2queue:progress:b');
$node->safe_psql('postgres', q{CREATE TABLE jobs2 (id int PRIMARY KEY, queue text);
	INSERT INTO jobs2 VALUES (1, 'jobs:wal2queue:progress:b')});
my $b2 = start_bridge($node, $r, '--slot', 'a2', '--create-slot', '--backfill',
	'--tables', 'public.jobs2', '--route-column', 'queue', '--status-interval', '1');
wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:a2', 'backfill_done') eq '1'
	  || !$b2->{h}->pumpable }, 30);
is(redis($r, 'TYPE', 'jobs:wal2queue:progress:b'), 'none', 'no stream planted where bridge b keeps its record');
stop_bridge($b2) if $b2->{h}->pumpable;
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
