# --standby: a second bridge waits while the first holds the slot and takes
# over within seconds of its death (kill -9, under load); nothing lost,
# nothing doubled.  --metrics serves Prometheus text; --log-status logs.
use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $node = new_node('standby');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my $mport = free_port();
my $a = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--accept-new-source',
	'--metrics', "127.0.0.1:$mport", '--log-status', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }),
	'the first bridge streams');
my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--standby');
ok(wait_until(sub { bridge_log($b) =~ /standing by: replication slot "jobs" is active for PID/ }),
	'the second one stands by');

# a steady load: 400 transactions of 50 jobs, 10 ms apart
my $load = IPC::Run::start(['psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', q{
	DO $$ BEGIN
	  FOR t IN 0..399 LOOP
	    INSERT INTO jobs SELECT g, 'job ' || g FROM generate_series(t * 50 + 1, t * 50 + 50) g;
	    COMMIT;
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	END $$;}]);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') > 2000 }), 'jobs flow through the first bridge');

my $http = HTTP::Tiny->new(timeout => 5);
my $res = $http->get("http://127.0.0.1:$mport/metrics");
ok($res->{success}, '/metrics answers');
like($res->{content}, qr/^wal2queue_jobs_delivered_total\{sink="redis",slot="jobs"\} [1-9]\d*$/m,
	'jobs delivered are counted');
like($res->{content}, qr/^wal2queue_confirmed_lsn\{slot="jobs"\} [1-9]\d*$/m, 'confirmed LSN');
like($res->{content}, qr/^wal2queue_lag_bytes\{slot="jobs"\} \d+$/m, 'lag in bytes');
like($res->{content}, qr/^wal2queue_lag_seconds\{slot="jobs"\} [\d.]+$/m, 'lag in seconds');
like($res->{content}, qr/^wal2queue_inflight_jobs\{sink="redis"\} \d+$/m, 'jobs in flight');
like($res->{content}, qr/^wal2queue_up\{peer="postgres"\} 1$/m, 'up');
is($http->get("http://127.0.0.1:$mport/nothing")->{status}, 404, 'other paths: 404');
ok(wait_until(sub { bridge_log($a) =~ /status: streaming, redis up; delivered \d+ jobs/ }, 10),
	'--log-status logs a status line');

$a->{h}->signal('KILL');
$a->{h}->finish;
my $t0 = time();
ok(wait_until(sub { bridge_log($b) =~ /taking over slot "jobs"/ }, 30), 'the standby takes over');
my $took = time() - $t0;
ok($took < 5, sprintf('within seconds (%.1f s)', $took));
$load->finish;
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '20000' }, 60), 'every job arrives');
my $e = stream_entries($r, 'public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(@$e), 20000, 'nothing doubled');
is(scalar(keys %seen), 20000, 'nothing lost');
is(stop_bridge($b) >> 8, 0, 'clean stop');
stop_redis($r);
$node->stop;
done_testing();
