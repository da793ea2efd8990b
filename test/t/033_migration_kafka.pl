# docs/migration.md with the Kafka command line: a SKIP LOCKED job_queue
# (20,000 pending, 180,000 completed: librdkafka's mock cluster keeps only
# a few MiB per partition), producers inserting all the time, the bridge
# killed with -9 twice during the backfill and restarted with the same
# command line.  Every pending job and every new job must be on the topic
# exactly once (by key = id), no completed job.
#
# One deviation from the guide: no --kafka-transactions, since the mock
# cluster neither fences a killed producer nor hides aborted transactions
# from kcat (as in the fault matrix, test/faults/README.md).
# Two more deviations, so that the kills land during the backfill: pages of
# 1,000 rows (--backfill-batch=1000; W2Q_MIGRATION_BATCH=N to change it), and
# the mock answering 50 ms late (rtt) during the two killed runs: a page
# of 10,000 rows reaches the mock in one round trip, too fast for kcat.
# W2Q_MIGRATION_KAFKA_ROWS shrinks the table (one row in ten pending).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);
use W2QTest;

my $n_total = $ENV{W2Q_MIGRATION_KAFKA_ROWS} // 200_000;
my $n_pending = int($n_total / 10);
my $t0 = time();
sub elapsed { return sprintf('%.1f s', time() - $t0) }

my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start([ "$root/test/helpers/kafka-mock", '1' ], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;
$mout = '';
$min .= "create public.job_queue 4\n";
$mock->pump until $mout =~ /\n/;
like($mout, qr/^ok/, "mock cluster at $bootstrap, topic public.job_queue with 4 partitions");

# the keys (ids) of every message on the topic
sub keys_on_topic
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.job_queue', '-o', 'beginning', '-e', '-q',
			'-f', '%k\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return grep { $_ ne '' } split /\n/, $out;
}
sub count_on_topic { return scalar(my @k = keys_on_topic()) }


my $node = new_node('migration_kafka', conf => "wal_sender_timeout = 10s\n");
$node->safe_psql('postgres', qq{
	CREATE TABLE job_queue (
		id         bigserial PRIMARY KEY,
		payload    jsonb NOT NULL,
		status     text NOT NULL DEFAULT 'pending',
		created_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO job_queue (payload, status)
	SELECT jsonb_build_object('type', 'send_email', 'user_id', g),
	       CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'completed' END
	FROM generate_series(1::bigint, $n_total) g;
	VACUUM ANALYZE job_queue;
	CREATE TABLE producer_stop (x int);
	CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
	GRANT SELECT ON job_queue TO wal2queue_bridge;
});
my $initial_max = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status = 'pending'"),
	$n_pending, "$n_pending of $n_total jobs pending");

sub start_producer
{
	my ($no) = @_;
	my $sql = qq{DO \$\$
	DECLARE i int := 0;
	BEGIN
		LOOP
			i := i + 1;
			INSERT INTO job_queue (payload)
			SELECT jsonb_build_object('producer', $no, 'n', i, 'k', k) FROM generate_series(1, 1 + i % 3) k;
			IF i % 10 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
			EXIT WHEN EXISTS (SELECT FROM producer_stop);
			PERFORM pg_sleep(0.01);
		END LOOP;
	END \$\$;};
	my ($out, $err) = ('', '');
	return IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
}
my @producers = map { start_producer($_) } 1 .. 2;

my @cmd = ('-d', $node->connstr('postgres') . ' user=wal2queue_bridge',
	'--slot', 'job_queue', '--create-slot', "--backfill=status = 'pending'",
	'--tables', 'public.job_queue', '--sink', "kafka://$bootstrap",
	'--backfill-batch=' . ($ENV{W2Q_MIGRATION_BATCH} // 1000));

sub mock_cmd
{
	my ($cmd) = @_;
	$mout = '';
	$min .= "$cmd\n";
	$mock->pump until $mout =~ /\n/;
	return $mout =~ /^ok/;
}

# kill -9 a second after this run's first page (its first progress line;
# kcat, slowed by the mock's round trip too, cannot poll fast enough), and
# check that the run delivered something and the backfill was not done
sub kill_during_backfill
{
	my ($br, $from, $what) = @_;
	wait_until(sub { bridge_log($br) =~ /backfill of public\.job_queue: \d+/ || !$br->{h}->pumpable }, 90);
	usleep(1_000_000);
	my $hit = $br->{h}->pumpable;
	$br->{h}->signal('KILL');
	$br->{h}->finish;
	my $n = count_on_topic();
	note("$what: killed at $n messages after " . elapsed());
	ok($hit && $n > $from && $n < $n_pending, "$what: kill -9 landed during the backfill ($n of $n_pending)")
	  or diag(bridge_log($br));
	return $n;
}

ok(mock_cmd('rtt -1 50'), 'the mock answers 50 ms late while the bridge is killed');
my $br = start_bridge(undef, undef, @cmd);
my $at = kill_during_backfill($br, 0, 'first run');
$br = start_bridge(undef, undef, @cmd);
kill_during_backfill($br, $at, 'second run');
ok(mock_cmd('rtt -1 0'), 'and at once again');
$br = start_bridge(undef, undef, @cmd);
wait_until(sub { count_on_topic() > $n_pending || !$br->{h}->pumpable }, 150);
ok(count_on_topic() > $n_pending, 'third run: the backfill finished and the stream flows')
  or diag(bridge_log($br));

$node->safe_psql('postgres', 'INSERT INTO producer_stop VALUES (1)');
$_->finish for @producers;
$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"sentinel":true}')});
my $sentinel = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
ok(wait_until(sub { !$br->{h}->pumpable || grep { $_ eq $sentinel } keys_on_topic() }, 120)
	  && $br->{h}->pumpable, 'the sentinel job arrived') or diag(bridge_log($br));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

my %want = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', "SELECT id FROM job_queue WHERE status = 'pending'");
my %completed = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', "SELECT id FROM job_queue WHERE status = 'completed'");
my $n_new = $node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id > $initial_max");
ok($n_new > 50, "producers inserted jobs throughout ($n_new)");
my (%seen, @dup, @extra, @completed_sent);
for my $id (keys_on_topic())
{
	push @dup, $id if $seen{$id}++ == 1;
	push @completed_sent, $id if $completed{$id};
	push @extra, $id if !$want{$id} && !$completed{$id};
}
my @missing = grep { !$seen{$_} } sort { $a <=> $b } keys %want;
is(scalar(@missing), 0, 'every pending and every new job was delivered')
  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
is(scalar(@dup), 0, 'none twice') or diag("twice: @dup[0 .. ($#dup < 9 ? $#dup : 9)]");
is(scalar(@completed_sent), 0, 'no completed job') or diag("completed: @completed_sent[0 .. 9]");
is(scalar(@extra), 0, 'no job PostgreSQL does not have (rolled back)') or diag("extra: @extra[0 .. 9]");
note('done after ' . elapsed());

$min .= "quit\n";
$mock->finish;
$node->stop;
done_testing();
