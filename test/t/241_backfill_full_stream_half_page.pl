# Fixed: bf_types() (redis_backfill.c) runs deliver's room check (noroom())
# before the page's first write and refuses a full stream with FULL, named
# (exit 1, nothing of the page written).
#
# The attack: a backfill page is written half-way when one of its streams is full,
# and the resume writes that half again.  The deliver function checks before
# its first write that no stream is so close to the largest ID that XADD *
# would fail (typecheck()/noroom(), FULL, TAP 216); the backfill function
# (redis_backfill.c, backfill_lua: bf_types()) checks only key types, so a
# page routed into streams "a" and "b", with "b" at
# 18446744073709551615-18446744073709551615, XADDs its rows into "a", then
# fails on "b": Redis functions do not roll back, the entries stay in "a"
# while the state still says the page before.  The operator frees "b", the
# same command line resumes at that page and writes its "a" rows again.
# Expected: a call never stops half-way (a full stream refused before any
# write, named, as deliver's FULL); after the restart every row once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bffull');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs VALUES (1, 'a'), (2, 'a'), (3, 'a'), (4, 'a'), (5, 'a'), (6, 'b');
});
redis($r, 'XADD', 'b', '18446744073709551615-18446744073709551615', 'f', 'v');
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--backfill-batch', '3',
	'--tables', 'public.jobs', '--route-column', 'queue', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
wait_until(sub { !$b->{h}->pumpable || redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1' }, 20);
sleep 2;
note(bridge_log($b));
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '3', 'the first page is recorded, not the second');
is(redis($r, 'XLEN', 'a'), '3', 'the refused page wrote nothing into stream a');
$b->{h}->signal('KILL') if $b->{h}->pumpable;
$b->{h}->finish;
# the operator frees the full stream and restarts the same command line
redis($r, 'DEL', 'b');
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1' }, 30),
	'the resumed backfill finishes') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'a'), '5', 'every row routed to a exactly once');
is(redis($r, 'XLEN', 'b'), '1', 'the row routed to b once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
