# Fixed: the backfill phase holds a session-level advisory lock keyed by the
# slot (bridge/backfill_lock.c) from before it records the creation marker
# to its last page; the second bridge cannot take it, so it neither reads
# the marker nor drops the slot: it waits ("another bridge is backfilling").
# The pause is 15 s here (W2Q_TEST_BACKFILL_PAUSE_SECONDS).
# Was: a second bridge started with the same --backfill command line while
# the first one has just created its slot (its exported snapshot open, its
# first state not yet recorded: the last state is the creation marker)
# drops the first one's slot, as one "the bridge stopped in between" left.
# The first bridge goes on backfilling from the dropped slot's snapshot,
# records the backfill done (100 rows), then stops: "replication slot ...
# does not exist any more"; the rows committed after its snapshot (here
# 101..110) are delivered by no one, and a restart is refused (the slot is
# gone, the record is there) until an operator re-backfills by hand.
# Why: bridge/backfill.c attempt(): "else if (exists && (ours || ...))"
# takes the marker (BACKFILL_CREATING) for proof that its writer is gone and
# drop_slot()s; the slot is not active while its creator reads the exported
# snapshot (the walsender releases it after CREATE_REPLICATION_SLOT), so
# the drop succeeds.  Nothing asks whether the creator is alive (its
# replication connection, which holds the exported snapshot, is).
# Expected: the second bridge leaves a slot another live bridge is creating
# alone (it waits, as it does for "being created ... by another bridge"),
# and every row (the backfilled ones and those committed after the first
# bridge's snapshot) is in the topic exactly once.
# Severity: high (a live bridge's slot dropped by a second start of the same
# command line; loud afterwards, but the jobs committed since the snapshot
# are gone with the slot's WAL position).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my ($k, $node) = kafka_backfill_servers('bfdropslot', 100);
my $bs = $k->{bootstrap};

my $slot = 'bf_ds';
my @cmd = ('--slot', $slot, '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');
my $a = start_paused_bridge($node, 'slot', 15, @cmd);
ok(wait_until(sub { bridge_log($a) =~ /paused at "slot"/ }, 60),
	'the first bridge created its slot (its snapshot open), no first state yet');
my $b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($b) =~ /dropping it|another bridge/ }, 60), 'the second bridge acted');
my $dropped = bridge_log($b) =~ /dropped replication slot "\Q$slot\E"/;
ok(!$dropped, 'the second bridge did not drop the slot the first one is creating')
  or diag(join "\n", grep { /WARNING|LOG/ } split /\n/, bridge_log($b));
stop_bridge($b, 'KILL');

# committed after the first bridge's snapshot: only its slot can deliver them
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(101, 110) g});
ok(wait_until(sub { bridge_log($a) =~ /backfill of slot "\Q$slot\E" done|ERROR/ || !$a->{h}->pumpable }, 120),
	'the first bridge went on after its pause');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(111, 120) g});
my $seen = kafka_key_counts($bs, 'public.jobs', 120);
my @missing = grep { !$seen->{$_} } 1 .. 120;
my @dup = grep { ($seen->{$_} // 0) > 1 } 1 .. 120;
ok(@missing == 0 && @dup == 0, 'rows 1..120 each once in the topic')
  or diag(scalar(@missing) . " missing (@missing[0 .. 9]), " . scalar(@dup) . " twice\n"
	  . join("\n", grep { /WARNING|LOG|ERROR/ && !/DEBUG/ } split /\n/, bridge_log($a)));
stop_bridge($a, 'KILL') if $a->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
