# PostgreSQL restarted, crashed, or the walsender killed: the bridge
# reconnects with backoff and resumes from the slot (a slot still active
# for a dying walsender is retried); nothing lost, nothing doubled.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('restart', conf => "restart_after_crash = on\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my $next = 1;

sub insert_jobs
{
	my ($n) = @_;
	my $hi = $next + $n - 1;
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'job ' || g FROM generate_series($next, $hi) g");
	$next = $hi + 1;
}

sub arrived { my $want = $next - 1; return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$want" }) }

# PostgreSQL down when the bridge starts
$node->stop('fast');
my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--accept-new-source');
ok(wait_until(sub { bridge_log($b) =~ /could not connect to PostgreSQL.*reconnecting in/ }),
	'PostgreSQL down at start: said');
sleep 1;
ok($b->{h}->pumpable, 'the bridge waits for it');
$node->start;
insert_jobs(500);
ok(arrived(), 'streaming once PostgreSQL is up');

# the walsender is killed: the slot may still look active for a moment
$node->safe_psql('postgres', "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'jobs'");
insert_jobs(500);
ok(arrived(), 'after the walsender was terminated: resumed');

# a clean restart of the server, with jobs committed while it was down for the bridge
$node->stop('fast');
$node->start;
insert_jobs(500);
ok(arrived(), 'after a server restart: resumed');

# a crash (a backend killed with SIGKILL makes the postmaster reinitialize
# shared memory): the slot falls back to its last saved position and replays
for my $i (1 .. 3) { insert_jobs(300); }
my $pid = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'jobs'");
kill 'KILL', $pid;
ok(wait_until(sub { slurp_file($node->logfile) =~ /reinitializing.*ready to accept connections/s }, 60),
	'the server went through crash recovery');
wait_until(sub { eval { $node->safe_psql('postgres', 'SELECT 1') } // 0 }, 60);
insert_jobs(300);
ok(arrived(), 'after a crash of the server: resumed');

my $e = stream_entries($r, 'public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(keys %seen), $next - 1, 'nothing lost');
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'nothing doubled');
like(bridge_log($b), qr/reconnecting in/, 'the bridge said it reconnects');
ok($b->{h}->pumpable, 'the bridge is still running');
is(stop_bridge($b) >> 8, 0, 'clean stop');
stop_redis($r);
$node->stop;
done_testing();
