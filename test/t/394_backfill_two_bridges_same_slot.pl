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
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bftwo');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'pending' END
	  FROM generate_series(1, 3000) g;
});

sub messages
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', '%k\t%p\t%h\t%s\n--end--\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { [ split /\t/, $_, 4 ] } grep { /\S/ } split /\n--end--\n/, $out;
}

my $slot = 'bf_two';
my $prefix = "$slot.";
my $topic = "${prefix}public.jobs";
my @cmd = ('--slot', $slot, '--create-slot', "--backfill=status = 'pending'", '--backfill-batch=40',
	'--tables', 'public.jobs', '--target-prefix', $prefix, '--sink', "kafka://$bs");

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

my %want = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', "SELECT id FROM jobs WHERE status = 'pending'");
my (%seen, @dup, @extra);
for my $m (messages($topic))
{
	push @dup, $m->[0] if $seen{ $m->[0] }++ == 1;
	push @extra, $m->[0] unless $want{ $m->[0] };
}
my @missing = grep { !$seen{$_} } sort { $a <=> $b } keys %want;
ok(@missing == 0 && @dup == 0 && @extra == 0,
	'each selected row exactly once (' . keys(%seen) . ' keys of ' . keys(%want) . ')')
  or diag(scalar(@missing) . " missing (@missing[0 .. 9]); " . scalar(@dup) . " twice (@dup[0 .. 9])");
ok(!$b_resumed, 'the second bridge did not backfill beside the first');
stop_kafka_mock($k);
$node->stop;
done_testing();
