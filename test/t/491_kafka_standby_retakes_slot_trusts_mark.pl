# What: two bridges take turns on one slot (--standby), Kafka sink.  A
# streams first, loses the slot to B (here: A stalled past
# wal_sender_timeout; as well a PostgreSQL restart or a sink failure with
# B polling first), and stands by.  In B's session a delivery is
# unproven (a refused request and a later one of the same partition
# appended: a suspect) and B dies before its next session reads the
# partition back (kill -9, an OOM kill, a node loss: what --standby is
# for).  A takes the slot again and trusts the partition's mark as a
# prefix: the refused job is skipped and confirmed to PostgreSQL.  Lost.
# Why: test/t/392's fix reads partitions back only at "the first look-up
# of a topic in a process" (bridge/kafka_marks.c, kafka_suspects.c:
# kafka_suspect_tail); A looked the topic up in its first session, so in
# its second one it trusts every mark beyond its own (in-memory) suspects,
# although another process wrote the partition in between.  The same
# holds for any process whose later session follows another writer of the
# slot (a standby pair taking turns back and forth).
# Expected: a session that follows another process's session on the slot
# (any session, or at least one after standing by / after the slot was
# held by another) reads back the tails past the floor as a new process
# does: job 3 in the topic exactly once.
# Severity: high (silent loss, confirmed to PostgreSQL, in the --standby
# pairs the docs recommend for availability).
# Fixed: every session reads the tails back (bridge/sink_kafka.c
# replay_begin clears ks->tail_read), not only a process's first.
# Control: W2Q_ATTACK_CONTROL=1 replaces A by a new process (same command
# line) before B dies: the new process reads the tail back, job 3 once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.sj 1'), 'a topic of one partition');
my $node = new_node('kstandby', conf => "wal_sender_timeout = 2s\n");
$node->safe_psql('postgres', 'CREATE TABLE sj (id int PRIMARY KEY, v text NOT NULL)');
my @args = ('--slot', 'sb', '--tables', 'public.sj', '--sink', "kafka://$bs",
	'--status-interval', '1', '--standby');

sub ids
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.sj', '-o', 'beginning', '-e', '-q',
			'-f', '%k\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return [ grep { /\S/ } split /\n/, $out ];
}

sub confirmed_past
{
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	return wait_until(sub {
		$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots "
			  . "WHERE slot_name = 'sb'") eq 't' }, 60);
}

my $a = start_bridge($node, undef, @args, '--create-slot');
ok(wait_until(sub { bridge_log($a) =~ /streaming slot "sb"/ }, 60), 'A streams');
$node->safe_psql('postgres', q{INSERT INTO sj VALUES (1, 'by A')});
ok(confirmed_past(), 'job 1 confirmed by A (A has looked the topic up)');
my $b = start_bridge($node, undef, @args);
ok(wait_until(sub { bridge_log($b) =~ /standing by/ }, 30), 'B stands by');

# A stalls past wal_sender_timeout: B takes the slot; A, resumed, stands by
$a->{h}->signal('STOP');
ok(wait_until(sub { bridge_log($b) =~ /taking over slot "sb"/ }, 30), 'B takes over');
$a->{h}->signal('CONT');
ok(wait_until(sub { bridge_log($a) =~ /standing by/ }, 30), 'A, resumed, stands by');
$node->safe_psql('postgres', q{INSERT INTO sj VALUES (2, 'by B')});
ok(confirmed_past(), 'job 2 confirmed by B');

if ($ENV{W2Q_ATTACK_CONTROL})
{
	stop_bridge($a, 'KILL');
	$a = start_bridge($node, undef, @args);
	ok(wait_until(sub { bridge_log($a) =~ /standing by/ }, 30), 'control: a new process A stands by');
}

# in B's session: a refused request, a later one appended (a suspect)
ok(kafka_mock_cmd($k, 'rtt -1 2000') && kafka_mock_cmd($k, 'errors 0 6 1'),
	'the broker answers 2 s late and refuses the next Produce request');
$node->safe_psql('postgres', q{INSERT INTO sj VALUES (3, 'refused')});
usleep(600_000);
$node->safe_psql('postgres', q{INSERT INTO sj VALUES (4, 'appended')});
my $deadline = time() + 60;
usleep(20_000) until bridge_log($b) =~ /without an offset/ || time() > $deadline;
ok(bridge_log($b) =~ /without an offset/, 'B saw the unproven delivery');
stop_bridge($b, 'KILL');
unlike(bridge_log($b), qr/was not proven; read back/, 'B died before any read back');
ok(kafka_mock_cmd($k, 'rtt -1 0'), 'the broker answers at once again');

ok(wait_until(sub { bridge_log($a) =~ /taking over slot "sb"/ }, 30), 'A takes the slot again');
$node->safe_psql('postgres', q{INSERT INTO sj VALUES (5, 'by A again')});
ok(confirmed_past(), 'everything confirmed');
my %n;
$n{$_}++ for @{ ids() };
is($n{3} // 0, 1, 'the job of the refused request is in Kafka once (not lost)')
  or diag('topic: ' . join(',', @{ ids() }) . "\nA's log:\n" . bridge_log($a));
ok((grep { ($n{$_} // 0) == 1 } 1, 2, 4, 5) == 4, 'jobs 1, 2, 4, 5 once')
  or diag('topic: ' . join(',', @{ ids() }));
stop_bridge($a, 'KILL');
stop_kafka_mock($k);
$node->stop('immediate');
done_testing();
