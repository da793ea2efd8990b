# What: the backfill's advisory lock (bridge/backfill_lock.c) lives on a
# separate, idle connection that nothing watches.  When that connection
# dies while the backfill goes on (pg_terminate_backend by an operator or a
# monitoring job that kills idle sessions, idle_session_timeout on the role
# or database, a pooler or firewall dropping an idle TCP connection), the
# lock is gone and the first bridge does not notice: it keeps backfilling.
# A second bridge of the same command line then takes the lock and does
# exactly what 395 fixed: it takes the creation marker for a dead writer's
# and drops the live bridge's slot; the rows committed after the first
# bridge's snapshot are delivered by no one.
# Why: bridge/backfill_lock.c bf_lock_take() is called once, at the start
# of attempt() (bridge/backfill.c "if ((rc = bf_lock_take(bf)) != 0)");
# nothing checks bf->lock_conn again (PQstatus, a query, or the lock held
# via pg_locks) before the marker, the slot, each page or the last state,
# so a lost lock is never noticed by its holder.
# Expected: the holder notices a lost lock before it writes again (checks
# the lock connection before each page / state, or keeps the lock on the
# connection it reads with) and stops or re-takes it; the second bridge
# never drops a live bridge's slot; rows 1..120 each once in the topic.
# With W2Q_ATTACK_CONTROL=1 the lock connection is not terminated: passes.
# Severity: high (same loss as 395: a live bridge's slot dropped, the jobs
# committed since its snapshot gone; triggered by ordinary idle-session
# housekeeping).
# Fixed: bf_lock_check() (backfill_lock.c) asks the server, before every
# sink write and before a slot is dropped or created, whether the lock's
# session still holds the lock (pg_locks of its own pid); a lost lock ends
# the attempt ("lost its advisory lock ... starting again from the sink's
# state"), which takes the lock again and starts over (here: drops its own
# marker slot, creates it again).  stream_drop_slot() (slot.c) takes the
# create lock before it drops: a slot another bridge is creating (or
# backfilling) is "being created or backfilled by another bridge", never
# dropped.  The lock connection has TCP keepalives (a silent network loss
# is not tested).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bflockterm');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 100) g;
});

sub messages
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', '%k\t%p\t%h\t%s\n--end--\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { [ split /\t/, $_, 4 ] } grep { /\S/ } split /\n--end--\n/, $out;
}

my $slot = 'bf_lt';
my @cmd = ('--slot', $slot, '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'slot';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 20;
my $a = start_bridge($node, undef, @cmd);
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($a) =~ /paused at "slot"/ }, 60),
	'the first bridge created its slot (its snapshot open), no first state yet');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	# housekeeping kills the idle lock connection
	is($node->safe_psql('postgres', q{
		SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		 WHERE locktype = 'advisory' AND granted AND objsubid = 1
		   AND objid::text::bigint = (hashtext('wal2queue-backfill:bf_lt')::bigint & 4294967295)}), '1',
		'the idle lock connection was terminated');
}
my $b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($b) =~ /dropping it|another bridge/ }, 60), 'the second bridge acted');
my $dropped = bridge_log($b) =~ /dropped replication slot "\Q$slot\E"|dropping it/;
ok(!$dropped, 'the second bridge did not drop the slot the first one is creating')
  or diag(join "\n", grep { /WARNING|LOG|INFO/ } split /\n/, bridge_log($b));
stop_bridge($b, 'KILL');

# committed after the first bridge's snapshot: only its slot can deliver them
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(101, 110) g});
ok(wait_until(sub { bridge_log($a) =~ /backfill of slot "\Q$slot\E" done|ERROR/ || !$a->{h}->pumpable }, 120),
	'the first bridge went on after its pause');
# the holder itself notices the lost lock before its first write (in this
# scenario the slot's create lock, on the stream's connection, alone keeps
# the second bridge off: without bf_lock_check() rows 1..120 still arrive,
# so this is what proves the check)
like(bridge_log($a), qr/lost its advisory lock \(.*?stopping before it writes more.*created replication slot "\Q$slot\E".*backfill of public\.jobs: \d+/s,
	'the first bridge noticed the lost lock before it wrote a page, and started over')
  unless $ENV{W2Q_ATTACK_CONTROL};
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(111, 120) g});
wait_until(sub { grep { $_->[0] eq '120' } messages('public.jobs') }, 30);
my %seen;
$seen{ $_->[0] }++ for messages('public.jobs');
my @missing = grep { !$seen{$_} } 1 .. 120;
my @dup = grep { ($seen{$_} // 0) > 1 } 1 .. 120;
ok(@missing == 0 && @dup == 0, 'rows 1..120 each once in the topic')
  or diag(scalar(@missing) . " missing (@missing[0 .. 9]), " . scalar(@dup) . " twice\n"
	  . join("\n", grep { /WARNING|LOG|ERROR/ && !/DEBUG/ } split /\n/, bridge_log($a)));
stop_bridge($a, 'KILL') if $a->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
