# Fixed: the backfill phase holds a session-level advisory lock keyed by the
# slot (bridge/backfill_lock.c, hashtext('wal2queue-backfill:' || slot))
# from before it reads the sink's state to its last page; a second bridge
# that cannot take it reads, drops and writes nothing and waits ("another
# bridge is backfilling slot ...", 30 s without --standby, then exit 1).
# Was: two bridges started with the same --backfill command line on the
# same slot (a second replica of a deployment, a rolling update that starts
# the new process before the old one stops, an operator who runs it by
# hand while the service runs) both backfill it at once: the second one
# reads the first one's last state, "resumes" it and writes pages while
# the first keeps writing its own.
# Why: bridge/backfill.c attempt() -> existing_slot() -> resume_unfinished()
# takes an unfinished state for one whose writer is gone: nothing checks
# that the slot is active or that another writer is behind the state (the
# stream is protected by the slot being active on one walsender; the
# backfill phase reads through a normal connection and never acquires the
# slot).  Kafka's page numbers (kafka_backfill.c: "Page numbers only grow
# on a state topic") are then written by two writers.  Without
# --kafka-transactions; with transactions the two producers share one
# transactional.id and fence each other on real Kafka, which the mock
# does not do (it does not fence zombies).
# Expected: the second bridge waits or refuses while the first one's
# backfill is under way; each selected row in the topic exactly once.
# Severity: high (1695 of 2000 rows twice here; the state record is
# written by two writers).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my ($k, $node) = kafka_backfill_servers('bftwo', 3000,
	q{CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'pending' END});
my $bs = $k->{bootstrap};

my $slot = 'bf_two';
my $topic = "$slot.public.jobs";
my @cmd = kafka_backfill_cmd($bs, $slot, "--backfill=status = 'pending'");

# pages slow enough that the second bridge starts in the middle
ok(kafka_mock_cmd($k, 'rtt -1 100'), 'the broker answers 100 ms late');
my $a = start_bridge($node, undef, @cmd);
ok(wait_until(sub { my @n = bridge_log($a) =~ /backfill of public\.jobs: (\d+) of/g; @n && $n[-1] >= 200 }, 120),
	'the first bridge is backfilling') or diag(bridge_log($a));
my $b = start_bridge($node, undef, @cmd);
my $done = sub { my ($x) = @_; bridge_log($x) =~ /backfill of slot "\Q$slot\E" done/ || !$x->{h}->pumpable };
ok(wait_until(sub { $done->($a) && $done->($b) }, 180)
	|| wait_until(sub { $done->($a) }, 1), 'the backfill finished');
my $b_resumed = bridge_log($b) =~ /resuming the backfill of slot/;
like(bridge_log($b), qr/another bridge is backfilling slot "\Q$slot\E"/, 'the second bridge waited for the first one\'s lock');
diag("the second bridge: " . ($b_resumed ? 'resumed the first one\'s backfill' : 'did not resume'));
stop_bridge($_, 'KILL') for grep { $_->{h}->pumpable } ($a, $b);
ok(kafka_mock_cmd($k, 'rtt -1 0'), 'the broker answers at once again');

each_pending_once($node, [ kafka_messages($bs, $topic) ], 'each selected row exactly once');
ok(!$b_resumed, 'the second bridge did not backfill beside the first');
stop_kafka_mock($k);
$node->stop;
done_testing();
