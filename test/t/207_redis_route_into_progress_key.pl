# Found by the attack review: one row whose --route-column value names the
# bridge's own bookkeeping key ('wal2queue:progress:<slot>', a hash) stops
# the bridge with exit 1 -- and again at every restart, since the row stays
# at the slot's confirmed position: the slot is wedged, WAL piles up, every
# later job waits, and only dropping the slot (losing jobs) gets past it.
# Any application user who can insert a job row can do this.  Expected: a
# route target is never a wal2queue bookkeeping key (refused with a
# documented rule: default target, or reserved prefix rejected per job),
# later jobs keep flowing.
# Also seen: on the first run (no record yet) the FUNCTION call stops
# half-way (XADDs into the record key and into "normal" done, the HSET of
# the record fails WRONGTYPE): docs/redis.md promises "a call never stops
# half-way"; the next run says 'holds a stream, not a stream'.  Cause:
# redis_progress.c typecheck() accepts the record key as 'none' and does not
# see that a target equals the record key (pkey).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('routeprogress');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE rt (id int PRIMARY KEY, q text);
	SELECT pg_create_logical_replication_slot('rs', 'wal2queue');
	INSERT INTO rt VALUES (1, 'wal2queue:progress:rs');
	INSERT INTO rt VALUES (2, 'normal');
});
for my $run (1 .. 2)
{
	my $b = start_bridge($node, $r, '--slot', 'rs', '--tables', 'public.rt', '--route-column', 'q',
		'--status-interval', '1', ($run == 1 ? ('--accept-new-source') : ()));
	wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'normal') eq '1' }, 15);
	ok($b->{h}->pumpable, "run $run: the bridge keeps running") or diag(bridge_log($b));
	is(redis($r, 'XLEN', 'normal'), '1', "run $run: the job after the hostile row is delivered");
	$b->{h}->kill_kill if $b->{h}->pumpable;
}
stop_redis($r);
$node->stop;
done_testing();
