# What: a wider --tables renumbers the jobs of a transaction the old options
# delivered, and a job its partition's mark covers is written again.  A
# bridge streams --tables public.a with --route-column q into Kafka (topics
# "jobs" and "other" led by broker 1, the positions topic w2q.pos.660 by
# broker 2).  Broker 2 goes down: the jobs keep arriving, the position record
# stays where it was (as test/t/630, 631).  A transaction T inserts public.b's
# row 101 for topic "other" (not selected), then public.a's row 2 for "jobs":
# the bridge writes row 2 as T's job seq 0, and the mark of "jobs" is (T, 0).
# The bridge is killed, broker 2 comes back.  The operator starts the wider
# --tables public.a,public.b: at the record, so 601's and 630's checks are
# armed (was_options).  The plugin numbers only the jobs it emits
# (plugin/wal2queue.c emit_job(): seq = data->seq++), so under the new
# options T's jobs are row 101 (seq 0, topic "other", no mark: written) and
# row 2 (seq 1).  Row 2 at (T, 1) lies past the mark (T, 0): neither
# kafka_record_skip_check() (it is not covered) nor
# kafka_record_below_check() (it is not below) sees it, and it is written a
# second time.  The bridge goes on; nothing reports it.
# Why: bridge/kafka_produce.c kafka_out_produce() with
# bridge/kafka_record_verdict.c kafka_record_below_check() and
# kafka_record_skip_check(): a mark is compared as (lsn, seq), but the seq
# of a job is its number among the jobs the options select in its
# transaction, not among the transaction's changes; under options that
# select more, the same job of a marked transaction gets a higher seq and
# passes for one past the mark.  630's check (a job below an old mark) and
# 601's (a job the old mark covers) both assume the seq is the same under
# both options.
# Expected: the wider session stops (as 601/630 do) or skips row 2; each job
# of topic "jobs" once.
# Severity: medium -- a silent duplicate under exactly-once, on the first run
# of a wider --tables started at or past the record (no kill needed during
# the wider run; the old session only has to have delivered a transaction
# that mixes the tables past its last record write: positions broker down,
# a kill -9 between a Kafka delivery and the record write, or the record's
# ~20 ms lag).
# Control: W2Q_ATTACK_CONTROL=1 puts public.b's row after public.a's row in
# T: row 2 keeps seq 0 under both options (before the fix the mark covered
# it and the wider run stopped at it, 601's check, with exit 1; now as
# below).
# Fixed: a change of the options takes effect only at the old horizon, and
# no mark is ever judged by seq across options.  A session whose options
# differ from the position record's and whose slot starts below the old
# horizon (the server's WAL end at its start, or the record if higher:
# every job written under the recorded options is at or below it) replays
# under the recorded options up to there (kafka_record_verdict.c
# record_options() hands them to the bridge, session.c old_options_take()
# reopens the stream with their --tables); a transaction past the horizon is
# not handed over, the record is written there under the recorded options
# and confirmed, and the session ends (bridge.c old_options_switch()); the
# next one streams with the new options from there, its jobs held until the
# record names them (kafka_record.c hold).  T is replayed under --tables
# public.a: row 2 is (T, 0) again, the mark covers it, it is skipped.  Row
# 101 of T lies below the horizon and is not delivered (the documented
# behaviour: a changed selection takes effect at the server's WAL end when
# the bridge starts with it; --backfill delivers what came before); a row of
# public.b committed after the start is.  The test runs with both plugins:
# wal2queue, and pgoutput (the publication sends both tables, the bridge
# selects the recorded --tables).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};

# both plugins: wal2queue (START_REPLICATION carries the recorded --tables)
# and pgoutput (the bridge selects the recorded --tables itself)
for my $mode ('wal2queue', 'pgoutput')
{
my $k = start_kafka_mock(2);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create w2q.pos.660 1') && kafka_mock_cmd($k, 'leader w2q.pos.660 0 2')
	&& kafka_mock_cmd($k, 'create jobs 1') && kafka_mock_cmd($k, 'leader jobs 0 1')
	&& kafka_mock_cmd($k, 'create other 1') && kafka_mock_cmd($k, 'leader other 0 1'),
	"$mode: positions topic on broker 2, job topics on broker 1");
my $node = new_node("a660$mode");
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE b (id int PRIMARY KEY, q text NOT NULL)');
my @plugin = ();
if ($mode eq 'pgoutput')
{
	$node->safe_psql('postgres', 'CREATE PUBLICATION p660 FOR TABLE a, b');
	@plugin = ('--plugin', 'pgoutput', '--publication', 'p660');
}
my @cmd = ('--slot', 's660', '--status-interval', '1', '--route-column', 'q', @plugin,
	'--kafka-positions-topic', 'w2q.pos.660', '--sink', "kafka://$bs");

my $ids = sub
{
	my ($topic) = @_;
	return join ' ', sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ ? $1 : () } kafka_messages($bs, $topic);
};

my $confirmed_past = sub
{
	my ($lsn) = @_;
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 's660'") eq 't' }, 60);
};

my $br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a', '--create-slot');
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')");
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($confirmed_past->($lsn0), "$mode: public.a's row 1 confirmed (the record passed it)");
ok(kafka_mock_cmd($k, 'down 2'), "$mode: broker 2 (the positions topic) is down");
$node->safe_psql('postgres', $control
	? "BEGIN; INSERT INTO a VALUES (2, 'jobs'); INSERT INTO b VALUES (101, 'other'); COMMIT"
	: "BEGIN; INSERT INTO b VALUES (101, 'other'); INSERT INTO a VALUES (2, 'jobs'); COMMIT");
ok(wait_until(sub { $ids->('jobs') eq '1 2' }, 60), "$mode: T's public.a row 2 is in topic jobs (seq 0 under --tables public.a)")
  or diag(bridge_log($br));
stop_bridge($br, 'KILL');
ok(kafka_mock_cmd($k, 'up 2'), "$mode: broker 2 is back");

# the wider --tables, started at the record, below the server's WAL end
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', "INSERT INTO b VALUES (102, 'other')");
my $lsn1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { !$br->{h}->pumpable || $ids->('other') eq '102' }, 60) && $br->{h}->pumpable,
	"$mode: public.b's row 102, committed after the start, is delivered under the new options")
  or diag(bridge_log($br));
ok($confirmed_past->($lsn1), "$mode: the slot confirmed past it");
my $running = $br->{h}->pumpable;
stop_bridge($br);
my $log = bridge_log($br);
my $opts = $mode eq 'pgoutput' ? '--plugin=pgoutput --publication=p660' : '--plugin=wal2queue';
ok($running, "$mode: the wider run goes on") or diag($log);
like($log, qr/replaying under them until the slot has passed it/, "$mode: it replayed under the recorded options first")
  or diag($log);
like($log, qr/the replay under the recorded options "\Q$opts\E --tables=public\.a" has passed \S+ \(confirmed \S+\): streaming with this bridge's own/,
	"$mode:   and switched at the old horizon") or diag($log);
is($ids->('jobs'), '1 2', "$mode: topic jobs: public.a's rows 1 and 2 once each") or diag($log);
is($ids->('other'), '102', "$mode: topic other: row 102; T's row 101, below the horizon, is not delivered (--backfill would)")
  or diag($log);
stop_kafka_mock($k);
$node->stop;
}
done_testing();
