# Attack review 4: the service's own command line silently streams around a
# dropped slot.  A bridge run as a service with --create-slot (the way the
# README starts it); its slot is dropped while it is stopped (a DBA cleaning
# "inactive" slots, a failover tool, pg_drop_replication_slot by mistake) and
# the application commits 10 jobs meanwhile.  At the next start the bridge
# creates a new slot at the current WAL position and the Redis function's
# "create" mode moves the progress record up to it
# (redis_progress.c: mode ~= '' and at < items[1].prev), although the record
# is positive evidence that slot "sd" of this very source delivered up to
# an earlier position: the 10 jobs committed in between are never delivered
# and nothing says so.  With --backfill the same situation exits 1 ("the
# slot is missing but the sink holds its record from this server ... never a
# silent new slot", docs/operations.md); README: "A lost slot is said, not
# streamed around".  Expected: the 10 jobs are delivered, or the bridge stops
# (or at least warns) naming the gap.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('dropped');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my @cmd = ('--slot', 'sd', '--create-slot', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'first' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered');
is(stop_bridge($b) >> 8, 0, 'the service stops');

$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('sd')");
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'while no slot' FROM generate_series(11, 20) g");

$b = start_bridge($node, $r, @cmd);
wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after' FROM generate_series(21, 30) g");
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.rj') eq '30' }, 20);
my $stopped = !$b->{h}->pumpable;
my $len = redis($r, 'XLEN', 'public.rj');
my $log = bridge_log($b);
my $warned = $log =~ /WARNING.*(?:record|gap|not delivered|dropped)/i;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", stream holds $len, warned: " . ($warned ? 'yes' : 'no'));
diag(join("\n", grep { /LOG|WARNING|ERROR/ } split /\n/, $log));
ok($stopped || $len eq '30' || $warned,
	'the jobs committed while the slot was missing are delivered, or the gap is said');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
