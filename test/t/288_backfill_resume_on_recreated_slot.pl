# Attack 288: an unfinished backfill resumes on a slot of the same name
# created since (by hand, a tool, wal2queue.create_slot()), whose stream
# begins after the backfill's consistent point.  The resume keeps only the
# rows the saved snapshot saw and leaves the later ones "to the stream",
# but this slot's stream begins where it was created: the rows committed
# between the old slot's consistent point and the new slot's creation come
# from neither.  attempt()/existing_slot() (backfill.c) check that the slot
# exists, not that it is the slot the backfill was taken from (its
# position at most the state's backfill_lsn); backfill_mark.c compares
# the registered start for mark_backfilled() only, after the fact.
# What happens: the resume delivers rows 4-9, records the backfill done,
# and only then the stream session stops, blaming Redis ("is at ...,
# behind the position ... that slot "s" has confirmed: Redis lost writes
# it had acknowledged"); rows 100-104 are delivered by nothing.
# Expected: the resume refused before it goes on (naming the slot created
# since), or every row delivered.
#
# Fixed: a slot past the unfinished backfill's consistent point is refused
# naming the recovery; --recreate-lost-slot drops, re-creates and
# backfills it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfrecreated');
my $r = start_redis();
backfill_jobs_table($node);
my @cmd = backfill_cmd('s', 'public.jobs');

my $br = backfill_stops_on($node, $r, 'bad', 'the first run stops at page 2', @cmd);

# the slot is dropped, jobs come in, a slot of that name is created again
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('s')});
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'q' FROM generate_series(100, 104) g});
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('s', 'wal2queue')});
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'q' FROM generate_series(200, 204) g});

$br = start_bridge($node, $r, @cmd);
wait_until(sub { redis($r, 'XLEN', 'q') >= 18 || !$br->{h}->pumpable }, 20);
sleep 2;
my $alive = $br->{h}->pumpable;
my @missing = missing_ids($r, [ 1 .. 9, 100 .. 104, 200 .. 204 ], 'q', 'bad');
my $done = backfill_done($r, 's');
note('bridge ' . ($alive ? 'runs' : 'stopped') . ", done=$done, missing: @missing");
note(join("\n", grep { /ERROR|WARN|resum|done|stream/ } split /\n/, bridge_log($br)));
ok(($done ne '1' && !$alive) || !@missing, 'refused before delivering, or every row delivered');
like(bridge_log($br), qr/past the consistent point .* of its unfinished backfill.*--recreate-lost-slot/,
	'the refusal names the slot and the recovery');
stop_bridge($br);

# the recovery it names: the slot dropped, created again and backfilled
$br = start_bridge($node, $r, @cmd, '--recreate-lost-slot');
wait_backfill_done($r, $br, 's');
@missing = missing_ids($r, [ 1 .. 9, 100 .. 104, 200 .. 204 ], 'q', 'bad');
is("@missing", '', '--recreate-lost-slot: every row at least once') or diag(bridge_log($br));
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
