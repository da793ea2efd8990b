# What: the way out that 601's ERROR names writes a job twice.  A bridge
# streams --tables public.a with --route-column q into Kafka (two brokers:
# topic "jobs" led by broker 1, the positions topic w2q.pos.630 by broker 2).
# Broker 2 goes down: the jobs keep arriving, the position record stays where
# it was (test/t/305).  public.b (not selected) gets a row Y for "jobs", the
# last change of a large transaction (1.5 million rows of public.c, selected
# by neither list; with Y alone in its transaction the wider run below stopped
# at Y, writing nothing), then public.a's row 2 is delivered to "jobs": the
# partition's mark passes Y, the record does not.  The bridge is killed, broker
# 2 comes back. A wider --tables public.a,public.b starts at the record: the
# partition's marks are read back ("2 jobs ... there; only those are
# skipped"), Y, which is not among them, is written (after row 2, below its
# mark), and the bridge stops at row 2 (601's check) with the way out:
# "restart once with the recorded options until slot ... has confirmed past
# <row 2's lsn>".  The operator does so, --tables public.a: the partition's
# last job is now Y, below row 2, so row 2 is no longer covered and is written
# a second time.  Nothing reports it.
# Why: bridge/kafka_produce.c kafka_out_produce() (and 601's
# kafka_record_skip_check()): a session under the wider options writes a job
# below a mark written under the old ones before the check stops it; the
# partition's mark (its last job) then moves back below jobs already there,
# which the recorded options' replay no longer treats as delivered.
# Expected: the way out writes nothing twice (each job in "jobs" once); or
# the wider session writes nothing below an old mark before it stops.
# Severity: medium -- a silent duplicate on the documented way out of 601's
# stop, whenever the positions topic lagged the job topics (its broker down,
# a kill -9 between a Kafka commit and the record write).
# Fixed: a session under options that select more than the recorded ones
# writes nothing below a mark written before it
# (bridge/kafka_record_verdict.c kafka_record_below_check(), called by
# kafka_out_produce() for a job its partition's mark does not cover): Y,
# below row 2's mark and not among the jobs read back, stops the wider run
# with exit 1 and the same way out, nothing of it written.  The way out
# then skips row 2 (its mark is still the partition's last job), and the
# wider --tables afterwards goes on from there (Y, committed before the
# change took effect, is not sent: a selection change applies from where
# the way out left the slot, as 601's).
# Control: W2Q_ATTACK_CONTROL=1 leaves out the wider run: the recorded
# options' replay skips row 2 (its mark covers it), each job once.
# Since 660/661's fix the wider run does not stop: below the old horizon it
# replays under the recorded options (Y is not theirs, row 2 is covered),
# then switches; the test checks that it goes on and that Y is not written
# and nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $k = start_kafka_mock(2);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create w2q.pos.630 1') && kafka_mock_cmd($k, 'leader w2q.pos.630 0 2')
	&& kafka_mock_cmd($k, 'create jobs 1') && kafka_mock_cmd($k, 'leader jobs 0 1')
	&& kafka_mock_cmd($k, 'create other 1') && kafka_mock_cmd($k, 'leader other 0 1'),
	'positions topic on broker 2, job topics on broker 1');
my $node = new_node('a630');
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE b (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE c (id int, q text)');
$node->safe_psql('postgres', "ALTER SYSTEM SET max_wal_size = '8GB'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my @cmd = ('--slot', 's630', '--status-interval', '1', '--route-column', 'q',
	'--kafka-positions-topic', 'w2q.pos.630', '--sink', "kafka://$bs");

sub ids
{
	my ($topic) = @_;
	return join ' ', sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ ? $1 : () } kafka_messages($bs, $topic);
}

sub confirmed_past
{
	my ($lsn) = @_;
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 's630'") eq 't' }, 60);
}

sub stops
{
	my ($br) = @_;
	wait_until(sub { !$br->{h}->pumpable }, 60);
	my $rc = $br->{h}->pumpable ? -1 : stop_bridge($br) >> 8;
	stop_bridge($br) if $rc == -1;
	return ($rc, bridge_log($br));
}

my $br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a', '--create-slot');
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')");
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn0), "public.a's row 1 confirmed (the record passed it)");
ok(kafka_mock_cmd($k, 'down 2'), 'broker 2 (the positions topic) is down');
$node->safe_psql('postgres', "BEGIN; INSERT INTO c SELECT g, 'x' FROM generate_series(1, 1500000) g;"
	. " INSERT INTO b VALUES (102, 'jobs'); COMMIT");	# Y, last in a large transaction
$node->safe_psql('postgres', "INSERT INTO a VALUES (2, 'jobs')");
ok(wait_until(sub { ids('jobs') eq '1 2' }, 120), "public.a's row 2 is in topic jobs: its mark passes Y")
  or diag(bridge_log($br));
stop_bridge($br, 'KILL');
ok(kafka_mock_cmd($k, 'up 2'), 'broker 2 is back');
my $slot = slot_confirmed($node, 's630');

my $past = '(the mark)';
unless ($control)
{
	# Since 660/661's fix the wider run does not stop: below the old horizon
	# it replays under the recorded options (Y is not theirs: not written;
	# row 2 is covered), then switches; nothing of it below a mark
	$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
	$node->safe_psql('postgres', "INSERT INTO c VALUES (0, 'x')");	# something to confirm past
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	ok(confirmed_past($lsn), 'the wider --tables goes on past the old horizon') or diag(bridge_log($br));
	my $running = $br->{h}->pumpable;
	stop_bridge($br);
	my $log = bridge_log($br);
	ok($running, '  still running') or diag($log);
	like($log, qr/replaying under them until the slot has passed it/,
		'  replaying under the recorded options up to the old horizon first') or diag($log);
	unlike($log, qr/ERROR/, '  no ERROR') or diag($log);
	is(ids('jobs'), '1 2', "  public.b's row Y (below the horizon) not written, row 2 not twice");
}

# the first run's options again (the way out before 660/661's fix; now, after
# the wider run, a narrower --tables: it replays nothing, the server idle)
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a');
$node->safe_psql('postgres', "INSERT INTO c VALUES (0, 'x')");	# something to confirm past
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn), "the recorded options run until the slot is past $past") or diag(bridge_log($br));
stop_bridge($br);
is(ids('jobs'), '1 2', "topic jobs: public.a's rows 1 and 2 once each");

# then the new options go on
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', "INSERT INTO b VALUES (103, 'jobs')");
ok(wait_until(sub { ids('jobs') eq '1 2 103' }, 60), "then the wider --tables delivers public.b's row 103")
  or diag(bridge_log($br));
ok($br->{h}->pumpable, '  and keeps running');
stop_bridge($br);
is(ids('jobs'), '1 2 103', '  each job once');
stop_kafka_mock($k);
done_testing();
