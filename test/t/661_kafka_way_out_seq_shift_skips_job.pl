# What: the way out of 601's stop loses a job, because the wider session
# wrote jobs of a transaction under its own numbering before it stopped.  A
# bridge streams --tables public.a with --route-column q into Kafka (topic
# "jobs" led by broker 2; "other" and the positions topic w2q.pos.661 by
# broker 1).  Broker 2 goes down.  A transaction T inserts public.b's rows
# 201 and 202 for "jobs" (not selected), public.a's row 11 for "other" and
# public.a's row 12 for "jobs"; then T2 inserts public.a's row 13 for
# "other".  The bridge delivers rows 11 and 13 to "other"; row 12 waits for
# broker 2, and the position record stays below T.  The bridge is killed,
# broker 2 comes back.  The operator starts a wider --tables
# public.a,public.b (at the record: 601's checks armed).  Under those options
# T's jobs are numbered 201 (seq 0), 202 (seq 1), 11 (seq 2), 12 (seq 3):
# rows 201 and 202 are written to "jobs" (its mark is row 1, below T), and
# row 11 (covered by T2's mark in "other") stops the bridge, exit 1, with the
# way out "restart once with the recorded options until slot ... has
# confirmed past <T2>".  The operator does so, --tables public.a: T's jobs
# are now 11 (seq 0) and 12 (seq 1), and the mark of "jobs" is row 202 at
# (T, 1), which covers row 12 at (T, 1): row 12 is skipped as delivered.  It
# never reached Kafka; nothing reports it.  The new options afterwards start
# past T.
# Why: the seq of a job is its number among the jobs the options select in
# its transaction (plugin/wal2queue.c emit_job()), and a mark covers every
# job of its lsn up to its seq (bridge/kafka_produce.c kafka_out_produce(),
# kafka_mark_covers()); a session under wider options writes a transaction's
# jobs under the wider numbering (kafka_record_below_check() lets them
# through: they are past the partition's mark), and a replay under the
# narrower options (601's way out, or any narrower --tables: "a mark skips
# only what was delivered", docs/kafka.md) reads that mark with the
# narrower numbering.
# Expected: the way out writes every job of public.a once: row 12 in "jobs".
# Severity: high -- a silent loss on the documented way out of 601's stop
# (and for any narrower --tables after a wider session stopped or was
# killed inside a transaction), when a job topic's broker was down or slow.
# Control: W2Q_ATTACK_CONTROL=1 leaves out the wider run: the recorded
# options' replay writes row 12 (the mark of "jobs" is row 1).
# Fixed: no mark is judged by seq across options any more, because no job
# below the old horizon is ever written under other options than the
# recorded ones (test/t/660's fix: kafka_record_verdict.c record_options(),
# session.c old_options_take(), bridge.c old_options_switch()).  The wider
# run, started below the horizon (the server's WAL end at its start),
# replays under the recorded --tables public.a up to there: T's row 12 is
# (T, 1) under the same numbering the marks were written with, past the
# mark of "jobs" (row 1), and written; row 11 and T2's row 13 are covered by
# the mark of "other" and skipped.  It writes nothing of public.b below the
# horizon (rows 201 and 202: the documented way, a changed selection takes
# effect at the server's WAL end when the bridge starts with it; --backfill
# delivers the rest), does not stop, and streams with the new options past
# the horizon (row 203 of public.b, row 14 of public.a).  A narrower run
# afterwards (--tables public.a, the way 661 took) starts at the WAL end of
# an idle server and switches at once: row 15 once, nothing skipped.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $k = start_kafka_mock(2);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create w2q.pos.661 1') && kafka_mock_cmd($k, 'leader w2q.pos.661 0 1')
	&& kafka_mock_cmd($k, 'create jobs 1') && kafka_mock_cmd($k, 'leader jobs 0 2')
	&& kafka_mock_cmd($k, 'create other 1') && kafka_mock_cmd($k, 'leader other 0 1'),
	'topic jobs on broker 2, other and the positions topic on broker 1');
my $node = new_node('a661');
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE b (id int PRIMARY KEY, q text NOT NULL)');
my @cmd = ('--slot', 's661', '--status-interval', '1', '--route-column', 'q',
	'--kafka-positions-topic', 'w2q.pos.661', '--sink', "kafka://$bs");

sub ids
{
	my ($topic) = @_;
	return join ' ', sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ ? $1 : () } kafka_messages($bs, $topic);
}

sub confirmed_past
{
	my ($lsn) = @_;
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 's661'") eq 't' }, 60);
}

my $br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a', '--create-slot');
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')");
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn0), "public.a's row 1 confirmed (the record passed it)");
ok(kafka_mock_cmd($k, 'down 2'), 'broker 2 (topic jobs) is down');
$node->safe_psql('postgres', "BEGIN; INSERT INTO b VALUES (201, 'jobs'), (202, 'jobs');"
	. " INSERT INTO a VALUES (11, 'other'); INSERT INTO a VALUES (12, 'jobs'); COMMIT");	# T
$node->safe_psql('postgres', "INSERT INTO a VALUES (13, 'other')");	# T2
ok(wait_until(sub { ids('other') eq '11 13' }, 60), 'rows 11 and 13 are in topic other, row 12 waits for broker 2')
  or diag(bridge_log($br));
stop_bridge($br, 'KILL');
ok(kafka_mock_cmd($k, 'up 2'), 'broker 2 is back');
is(ids('jobs'), '1', 'topic jobs holds row 1 only');

my $narrow = 'public.a';
unless ($control)
{
	# the wider --tables, below the record and the server's WAL end
	$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
	$node->safe_psql('postgres', "BEGIN; INSERT INTO b VALUES (203, 'jobs'); INSERT INTO a VALUES (14, 'jobs'); COMMIT");
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	ok(confirmed_past($lsn), 'the wider run confirmed past its rows 203 and 14') or diag(bridge_log($br));
	my $running = $br->{h}->pumpable;
	stop_bridge($br);
	my $log = bridge_log($br);
	ok($running, 'the wider --tables goes on (no stop, no way out to follow)') or diag($log);
	like($log, qr/replaying under them until the slot has passed it/,
		'  replaying under the recorded options up to the old horizon first') or diag($log);
	is(ids('jobs'), '1 12 14 203',
		"topic jobs: row 12 once (old numbering, past the mark); public.b's 201, 202 below the horizon not delivered; 203 and 14 after it")
	  or diag($log);
}

# a narrower --tables afterwards (the recorded options of the first run)
$br = start_streaming_bridge($node, undef, @cmd, '--tables', $narrow);
$node->safe_psql('postgres', "INSERT INTO a VALUES (15, 'jobs'); INSERT INTO b VALUES (0, 'x')");
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn), 'the narrower run confirmed past row 15') or diag(bridge_log($br));
stop_bridge($br);
my @jobs = split ' ', ids('jobs');
is(scalar(grep { $_ == 12 } @jobs), 1, "public.a's row 12 is in topic jobs once") or diag(bridge_log($br));
is(scalar(grep { $_ == 15 } @jobs), 1, "public.a's row 15 is in topic jobs once") or diag(bridge_log($br));
is(scalar(grep { $_ == 14 } @jobs), $control ? 0 : 1, "row 14 once (the wider run's)") or diag(bridge_log($br));
is(ids('other'), '11 13', 'topic other: rows 11 and 13 once each');
stop_kafka_mock($k);
done_testing();
