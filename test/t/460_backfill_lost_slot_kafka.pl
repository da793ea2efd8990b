# Issue 13's lost slot, with Kafka (test/t/016 and 031 are Redis only): a
# slot lost to max_slot_wal_keep_size stops a plain start with exit 1
# naming what happened and the command that recovers; with --backfill but
# without --recreate-lost-slot the same; with --recreate-lost-slot it is
# dropped, created again with an exported snapshot and backfilled: every
# row the table still holds at least once (those the old slot delivered
# come again, documented), a job committed while the slot was lost comes
# once (from the backfill), a job committed after streams once; the same
# command line then just streams.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bflostk', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL, pad text);
	INSERT INTO jobs SELECT g, CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'done' END, 'x'
	  FROM generate_series(1, 100) g;
	CREATE TABLE filler (id int, pad text);
});
my @cmd = ('--slot', 'jobs', '--create-slot', '--backfill', "status = 'pending'",
	'--tables', 'public.jobs', '--sink', "kafka://$bs", '--status-interval', '1');

sub keys_in_topic
{
	my ($want) = @_;
	my %n;
	my $out;
	wait_until(sub {
		my $err = '';
		$out = '';
		IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
			'>', \$out, '2>', \$err, IPC::Run::timeout(60));
		!defined $want || $out =~ /^\Q$want\E$/m;
	}, 60);
	$n{$_}++ for grep { /\S/ } split /\n/, $out;
	return \%n;
}

my $b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "jobs" done: 50 rows/ }, 60), 'backfilled the 50 pending rows')
  or diag(bridge_log($b));
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000000, 'pending', 'streamed')");
ok(keys_in_topic('1000000')->{1000000}, 'and streamed');
stop_bridge($b);

# the slot falls behind by more than max_slot_wal_keep_size and is lost
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO filler SELECT g, repeat('y', 1000) FROM generate_series(1, 1000) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
ok(wait_until(sub {
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 'lost'
	}, 30), 'the slot is lost');

my @plain = ('-d', $node->connstr('postgres'), '--slot', 'jobs', '--tables', 'public.jobs', '--sink', "kafka://$bs");
my ($code, $out) = run_bridge(@plain);
is($code, 1, 'a plain start on the lost slot: exit 1');
like($out, qr/replication slot "jobs" is lost: the server removed WAL it still needed \(max_slot_wal_keep_size\)/,
	'it says what happened') or diag($out);
like($out, qr/hint: \S*wal2queue-bridge .*--slot jobs .*--recreate-lost-slot --backfill re-creates it/,
	'and the command that recovers') or diag($out);
($code, $out) = run_bridge('-d', $node->connstr('postgres'), @cmd);
is($code, 1, 'with --backfill but without --recreate-lost-slot: exit 1');
like($out, qr/replication slot "jobs" is lost.*hint: \S*wal2queue-bridge .*--backfill .*--recreate-lost-slot re-creates it/,
	'the error prints the command that recovers') or diag($out);

$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000001, 'pending', 'while lost')");
$b = start_bridge($node, undef, @cmd, '--recreate-lost-slot');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "jobs" done/ || !$b->{h}->pumpable }, 60)
	  && $b->{h}->pumpable, 'the new slot is backfilled') or diag(bridge_log($b));
like(bridge_log($b), qr/is lost: dropping it/, 'the log says the slot was re-created');
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000002, 'pending', 'after')");
my $n = keys_in_topic('1000002');
is(scalar(grep { $_ % 2 == 0 && $n->{$_} } 1 .. 100), 50, 'every pending row delivered');
is(scalar(grep { $_ % 2 == 1 && $n->{$_} } 1 .. 100), 0, 'no done row');
is($n->{1000001}, 1, 'a job committed while the slot was lost: delivered once (by the backfill)');
is($n->{1000002}, 1, 'a job committed after: streamed once');
note('pending rows delivered twice (at least once, documented): ' . scalar(grep { ($n->{$_} // 0) == 2 } 1 .. 100));
is(stop_bridge($b) >> 8, 0, 'stopped');

# the same command line once more: the backfill is done, it streams
$b = start_bridge($node, undef, @cmd, '--recreate-lost-slot');
ok(wait_until(sub { bridge_log($b) =~ /finished earlier/ }, 30), 'the same command line then just streams')
  or diag(bridge_log($b));
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000003, 'pending', 'later')");
$n = keys_in_topic('1000003');
is($n->{1000003}, 1, 'a later job once');
stop_bridge($b);
stop_kafka_mock($k);
$node->stop;
done_testing();
