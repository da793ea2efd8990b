# What: the Kafka cluster lost its data (493's case) and the operator does
# what the bridge's error says: restarts once with --accept-new-source.
# The first session of that run begins (the flag is spent at its
# replay_begin), but its position record cannot be read yet -- the new
# cluster's positions topic has no leader for a few seconds (a cluster
# still electing, a broker restarting): "could not read the metadata of
# kafka topic ..." after 10 s, a retry.  The retried session is judged
# without --accept-new-source: no record, the slot delivered before, and
# the bridge exits 1 with the very error the operator answered ("start
# with --accept-new-source"), although it was started with it.
# Why: bridge/session.c session_begin() clears b->accept_new after the
# sink's replay_begin() returns, but the Kafka sink's verdict on the
# missing record comes later (kafka_record.c record_collect() ->
# record_none(), on the worker's answer); a session that ends before the
# verdict (SINK_RETRY) loses the flag, and record_none() then refuses
# with SINK_REPLAY_DELIVERED alone.
# Expected: --accept-new-source holds until a session has had the record's
# verdict: after the positions topic answers again the bridge streams, job
# 4 is delivered into the new cluster, the bridge keeps running.
# Severity: low-medium (a false exit 1 of a deliberate recovery, whenever
# the new cluster is briefly unavailable; rerunning with the flag works,
# no loss or duplicate).
# Fixed: bridge/session.c clears --accept-new-source at the sink's first
# acknowledgement of a session (session_sink_acked(): its start position
# or later), which comes only after the sink's verdict on the source
# (Kafka: the record's look-up; Redis: the first call, whose mode
# "replace" is the flag); a session retried before it keeps the flag.
# Redis shares the pattern (the mode comes from the session's flags) but
# hardly the failure: a refusal that comes before its first call runs
# (NOREPLICAS, OOM, READONLY) refuses the library's load at connect too,
# before any session begins, and a call that ran wrote the new record;
# only a change between the connect and the call (a failover then) hits it.
# Control: W2Q_ATTACK_CONTROL=1 leaves the positions topic answering: job 4
# is delivered, the bridge runs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $f = kafka_confirmed_fixture('kacc', 'kl', 'lj', rows => 'SELECT generate_series(1, 3)',
	delivered => 'jobs 1-3 delivered and confirmed');
my ($node, $b) = @$f{qw(node b)};
my @cmd = ('--slot', 'kl', @{ $f->{cmd} });
stop_kafka_mock($f->{k});

# the cluster lost everything; the new one's positions topic has no leader yet
my $k2 = start_kafka_mock(1);
ok(kafka_mock_cmd($k2, 'topicerror wal2queue.positions 5'), 'positions topic: LEADER_NOT_AVAILABLE')
  unless $control;
$b = start_bridge($node, undef, @cmd, '--sink', "kafka://$k2->{bootstrap}", '--accept-new-source');
unless ($control)
{
	ok(wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /could not read the metadata of kafka topic "wal2queue\.positions"/ }, 60),
		'the first session cannot read the record yet') or diag(bridge_log($b));
	ok(kafka_mock_cmd($k2, 'topicerror wal2queue.positions 0'), 'the positions topic answers again');
}
$node->safe_psql('postgres', 'INSERT INTO lj VALUES (4)');
wait_until(sub { !$b->{h}->pumpable || scalar(kafka_messages($k2->{bootstrap}, 'public.lj')) >= 1 }, 60);
ok($b->{h}->pumpable, 'the bridge started with --accept-new-source runs on')
  or diag(bridge_log($b));
is(scalar(kafka_messages($k2->{bootstrap}, 'public.lj')), 1, 'job 4 delivered into the new cluster');
unlike(bridge_log($b), qr/ERROR: .*no position record of slot "kl".*start with --accept-new-source/,
	'not refused for want of the flag it was given');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_kafka_mock($k2);
$node->stop;
done_testing();
