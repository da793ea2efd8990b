# Issue 13: "after a backfill, prune() knows the backfilled rows were
# delivered", with Kafka (test/t/030 and 243 are Redis only).  Jobs
# inserted before the slot exists are backfilled into Kafka; the bridge
# tells the extension (wal2queue.mark_backfilled(), bridge/backfill_mark.c),
# so prune() deletes them once the slot is attested, with the jobs
# streamed after: every job in the topic once, and the table empty.  The
# progress is in the log and in /metrics (rows done, rows estimated).  A job
# committed while no bridge runs is kept until it is delivered.
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfprunek');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('old', g) FROM generate_series(1, 30) g;
});
my @cmd = ('--slot', 'jobs', '--create-slot', '--backfill', '--backfill-batch', '7', '--tables', 'public.jobs',
	'--sink', "kafka://$bs", '--status-interval', '1');

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
		$out =~ /^\Q$want\E$/m;
	}, 60);
	$n{$_}++ for grep { /\S/ } split /\n/, $out;
	return \%n;
}

my $mport = free_port();
my $b = start_bridge($node, undef, @cmd, '--metrics', "127.0.0.1:$mport");
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "jobs" done: 30 rows/ }, 60), 'backfilled 30 jobs')
  or diag(bridge_log($b));
sub metrics
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mport, Timeout => 5) or return '';
	print $s "GET /metrics HTTP/1.0\r\n\r\n";
	local $/;
	return <$s> // '';
}
ok(wait_until(sub { metrics() =~ /wal2queue_backfill_rows_done\{slot="jobs"\} 30\n/ }, 20),
	'/metrics: wal2queue_backfill_rows_done') or diag(metrics());
like(metrics(), qr/wal2queue_backfill_rows_estimated\{slot="jobs"\} \d+\n/, '/metrics: wal2queue_backfill_rows_estimated');
like(bridge_log($b), qr/backfill of public\.jobs: 30 of ~\d+ rows/, 'progress in the log');
ok(wait_until(sub { bridge_log($b) =~ /told the wal2queue extension that slot "jobs" is backfilled/ }, 20),
	'and told the extension') or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('new', g) FROM generate_series(1, 5) g});
my $n = keys_in_topic('35');
my @bad = grep { ($n->{$_} // 0) != 1 } 1 .. 35;
ok(!@bad, 'jobs 1..35 each once in the topic') or diag("not once: @bad");

my $deleted = prune_until_gone($node, 'true');
is($deleted, 35, 'prune() deleted the 30 backfilled and the 5 streamed jobs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '0', 'the table is empty');
stop_bridge($b);

# a job committed while no bridge runs is not deleted
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"waiting": true}')});
is(prune_until($node, 1, tries => 3), 0, 'prune keeps a job no slot delivered');
$b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($b) =~ /finished earlier/ }, 30), 'the same command line streams')
  or diag(bridge_log($b));
$n = keys_in_topic('36');
is($n->{36}, 1, 'and delivers it once');
stop_bridge($b);
stop_kafka_mock($k);
$node->stop;
done_testing();
