# --backfill into Redis: a table with pending and completed jobs, producers
# inserting while the bridge backfills, the bridge killed with SIGKILL several
# times mid-backfill and restarted with the same command line: every pending
# row and every new row exactly once, no completed row; the same command line
# afterwards just streams.  Also: a slot that exists without a backfill is
# refused naming --backfill-again, which then re-delivers (at least once).
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $node = new_node('backfill');
my $r = start_redis();
my $pending = 20000;
$node->safe_psql('postgres', qq{
	CREATE TABLE job_queue (id bigserial PRIMARY KEY, status text NOT NULL,
	                        payload jsonb NOT NULL);
	INSERT INTO job_queue (status, payload)
	  SELECT CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'completed' END,
	         jsonb_build_object('n', g)
	  FROM generate_series(1, 2 * $pending) g;
	CREATE TABLE other (a int, b text, c int, PRIMARY KEY (a, b));
	INSERT INTO other SELECT g % 7, 'k,' || g, g FROM generate_series(1, 300) g;
	ANALYZE;
});

# producers: pending jobs one per transaction, while the bridge backfills
my $n_new = 1500;
my $producer = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', qq{
	DO \$\$ BEGIN
	  FOR i IN 1..$n_new LOOP
	    INSERT INTO job_queue (status, payload) VALUES ('pending', jsonb_build_object('new', i));
	    COMMIT;
	    PERFORM pg_sleep(0.004);
	  END LOOP;
	END \$\$;} ], '>', '/dev/null', '2>', '/dev/null');

my @cmd = ('--slot', 'bf', '--create-slot', '--backfill', "status = 'pending'",
	'--backfill-batch', '25', '--tables', 'public.job_queue',
	'--status-interval', '1');
my $pkey = 'wal2queue:progress:bf';
my $rows = sub { redis($r, 'HGET', $pkey, 'backfill_rows') || 0 };
for my $round (1 .. 3)
{
	my $b = start_bridge($node, $r, @cmd);
	my $from = $rows->();
	wait_until(sub { $rows->() >= $from + 2000 || redis($r, 'HGET', $pkey, 'backfill_done') eq '1'
		  || !$b->{h}->pumpable }, 60);
	ok($b->{h}->pumpable, "round $round: the bridge runs") or diag(bridge_log($b));
	$b->{h}->signal('KILL');
	$b->{h}->finish;
	my $done = redis($r, 'HGET', $pkey, 'backfill_done');
	ok($done eq '0', "round $round: killed mid-backfill at " . $rows->() . " rows");
}

my $b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'HGET', $pkey, 'backfill_done') eq '1' }, 120), 'the backfill finishes');
ok(wait_until(sub { bridge_log($b) =~ /its mark_backfilled\(\)\) is not installed: prune\(\) does not know/ }, 20),
	'without the extension, mark_backfilled() is a notice, and the bridge goes on');
like(bridge_log($b), qr/backfill of public\.job_queue: \d+ of ~\d+ rows/, 'progress in the log');
$producer->finish;
my $total_new = $node->safe_psql('postgres', q{SELECT count(*) FROM job_queue WHERE payload ? 'new'});
is($total_new, $n_new, 'the producer committed every new job');
my $want = $pending + $n_new;
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') >= $want }, 120), 'every job arrives');
sleep 2;
my $e = stream_entries($r, 'public.job_queue');
my (%seen, $completed, $bf, $streamed);
for my $x (@$e)
{
	$seen{ $x->[1]{id} }++;
	$completed++ if $x->[1]{status} ne 'pending';
	if (($x->[1]{_backfill} // '') eq '1') { $bf++ } else { $streamed++ }
}
is(scalar(@$e), $want, "exactly as many entries as pending and new jobs ($want)");
is(scalar(keys %seen), $want, 'every job exactly once');
is($completed // 0, 0, 'no completed job delivered');
ok($bf && $streamed, "backfilled ($bf) and streamed ($streamed) entries");
my $missing = $node->safe_psql('postgres', q{SELECT count(*) FROM job_queue WHERE status = 'pending'});
is($missing, $want, 'the table holds as many pending jobs as were delivered');
is($e->[0][1]{_lsn}, redis($r, 'HGET', $pkey, 'backfill_lsn'), 'a backfilled entry carries the consistent point as _lsn');

# the same command line again: streams, backfills nothing
stop_bridge($b);
my $mport = free_port();
$b = start_bridge($node, $r, @cmd, '--metrics', "127.0.0.1:$mport");
ok(wait_until(sub { bridge_log($b) =~ /finished earlier/ }, 30), 'a finished backfill is not run again');
sub metrics
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mport, Timeout => 5) or return '';
	print $s "GET /metrics HTTP/1.0\r\n\r\n";
	local $/;
	return <$s> // '';
}
ok(wait_until(sub { metrics() =~ /wal2queue_backfill_rows_done\{slot="bf"\} $bf\n/ }, 20),
	"/metrics: wal2queue_backfill_rows_done ($bf, the backfilled entries)") or diag(metrics());
like(metrics(), qr/wal2queue_backfill_running\{slot="bf"\} 0\n/, '/metrics: wal2queue_backfill_running');
like(metrics(), qr/wal2queue_backfill_rows_estimated\{slot="bf"\} \d+\n/, '/metrics: wal2queue_backfill_rows_estimated');
$node->safe_psql('postgres', q{INSERT INTO job_queue (status, payload) VALUES ('pending', '{"late":1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_queue') == $want + 1 }, 30), 'and it streams');
stop_bridge($b);

# a slot created outside the bridge: --backfill is refused, --backfill-again runs
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('plain', 'wal2queue')});
my $r2 = start_redis();
my @plain = ('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r2->{port}",
	'--slot', 'plain', '--create-slot', '--tables', 'public.other', '--backfill');
my ($rc, $out) = run_bridge(@plain);
is($rc, 1, 'an existing slot without a backfill: exit 1');
like($out, qr/--backfill-again/, 'the error names --backfill-again');
my $h = start_bridge($node, $r2, @plain[4 .. $#plain], '--backfill-again');
ok(wait_until(sub { redis($r2, 'XLEN', 'public.other') == 300 }, 30), '--backfill-again delivers the rows');
my $o = stream_entries($r2, 'public.other');
my %ok;
$ok{"$_->[1]{a}/$_->[1]{b}"}++ for @$o;
is(scalar(keys %ok), 300, 'a table with a composite key: every row');
is(scalar(@$o), 300, 'a table with a composite key: once');
stop_bridge($h);

# --plugin=pgoutput: the publication selects the tables; same jobs, then the stream
$node->safe_psql('postgres', q{
	CREATE TABLE pgo_jobs (k text, n int, PRIMARY KEY (n, k));
	INSERT INTO pgo_jobs SELECT 'k' || g, g FROM generate_series(1, 120) g;
});
my $r3 = start_redis();
$h = start_bridge($node, $r3, '--plugin', 'pgoutput', '--publication', 'w2q_pub', '--slot', 'pgo',
	'--create-slot', '--tables', 'public.pgo_jobs', '--backfill', 'n > 20', '--backfill-batch', '7');
ok(wait_until(sub { redis($r3, 'HGET', 'wal2queue:progress:pgo', 'backfill_done') eq '1' }, 30),
	'pgoutput: the backfill finishes');
$node->safe_psql('postgres', q{INSERT INTO pgo_jobs VALUES ('new', 1000)});
ok(wait_until(sub { redis($r3, 'XLEN', 'public.pgo_jobs') == 101 }, 30),
	'pgoutput: 100 backfilled rows and the new one streamed');
my %p;
$p{ $_->[1]{n} }++ for @{ stream_entries($r3, 'public.pgo_jobs') };
is(scalar(grep { $p{$_} == 1 } 21 .. 120, 1000), 101, 'pgoutput: each once, none below the condition');
stop_bridge($h);

stop_redis($r);
stop_redis($r2);
stop_redis($r3);
$node->stop;
done_testing();
