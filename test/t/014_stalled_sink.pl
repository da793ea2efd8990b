# A sink that stalls (Redis stopped with SIGSTOP, mid-stream and across a
# reconnect) for three times wal_sender_timeout: no call in the bridge's
# loop waits longer than about a second, so status updates keep the
# walsender alive; when the sink resumes, every job arrives exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('stall', conf => "wal_sender_timeout = 2s\nlog_min_messages = debug1\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
});
my $r = start_redis();
my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--create-slot');
# jobs committed before the slot exists are not the slot's to deliver
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }, 60),
	'the bridge created its slot and streams it');
my $next = 1;
sub insert_jobs
{
	my ($n) = @_;
	my $hi = $next + $n - 1;
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'job ' || g FROM generate_series($next, $hi) g");
	$next = $hi + 1;
}
insert_jobs(1000);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1000' }), 'streaming');

for my $round (1 .. 2)
{
	my $logpos = -s $node->logfile;
	my ($pid) = redis($r, 'INFO', 'server') =~ /process_id:(\d+)/;
	die "no redis pid" unless $pid && $pid > 1;
	kill 'STOP', $pid;
	insert_jobs(500) for 1 .. 4;
	# with round 2, the bridge also has to reconnect to a frozen Redis
	if ($round == 2)
	{
		$node->safe_psql('postgres',
			"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'jobs'");
	}
	sleep 6;					# three times wal_sender_timeout
	kill 'CONT', $pid;
	my $want = $next - 1;
	ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$want" }, 60),
		"round $round: every job arrived after the stall");
	my $pglog = substr(slurp_file($node->logfile), $logpos);
	unlike($pglog, qr/terminating walsender process due to replication timeout/,
		"round $round: the walsender never timed out");
	ok($b->{h}->pumpable, "round $round: the bridge kept running");
}

my $e = stream_entries($r, 'public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(@$e), $next - 1, 'as many entries as jobs');
is(scalar(keys %seen), $next - 1, 'every job exactly once');
is(stop_bridge($b) >> 8, 0, 'clean stop');
stop_redis($r);
$node->stop;
done_testing();
