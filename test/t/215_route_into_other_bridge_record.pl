# Found by the attack review (fixed): a route value can still reach another bridge's
# bookkeeping and stop a pipeline.  sink_redis.c:check_target() protects only
# the keys under the bridge's OWN target prefix (prefix + "wal2queue:").  Two
# bridges share one Redis with different --target-prefix (bridge B writes
# "jobs:<target>" and keeps its progress record at
# "jobs:wal2queue:progress:b"); a row of bridge A's table whose route value
# is "jobs:wal2queue:progress:b" is written by A into B's progress record:
# A's deliver call finds a hash there and A stops with WRONGTYPE, so one
# inserted row halts A's pipeline (and, before B's first run, would plant a
# stream where B keeps its record).  Expected (the rule of TAP 207): the row
# goes to its table's stream, with a warning, and A keeps streaming.
# Fixed: check_target() (now redis_target.c redis_check_target()) treats any key containing "wal2queue:progress:" or
# "wal2queue:stage:" as reserved, whatever the prefix.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('routeother');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	CREATE TABLE other (id int PRIMARY KEY);
});
my $bb = start_bridge($node, $r, '--slot', 'b', '--create-slot', '--tables', 'public.other',
	'--target-prefix', 'jobs:', '--status-interval', '1');
my $ba = start_bridge($node, $r, '--slot', 'a', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('a', 'b') AND active}) eq '2' }),
	'both bridges stream');
$node->safe_psql('postgres', 'INSERT INTO other VALUES (1)');
ok(wait_until(sub { redis($r, 'TYPE', 'jobs:wal2queue:progress:b') eq 'hash' }), 'bridge b keeps its progress record');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'jobs:wal2queue:progress:b')});
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (2, 'emails')});
ok(wait_until(sub { redis($r, 'XLEN', 'emails') eq '1' }, 20), 'bridge a delivers the job after the hostile row')
	or diag(bridge_log($ba));
is(redis($r, 'TYPE', 'jobs:wal2queue:progress:b'), 'hash', 'bridge b\'s record is untouched');
stop_bridge($ba);
stop_bridge($bb);
stop_redis($r);
$node->stop;
done_testing();
