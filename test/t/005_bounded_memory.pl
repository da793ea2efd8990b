# Bounded memory: a 1,000,000-row transaction, and Redis frozen while jobs
# pile up, do not grow the bridge past a fixed cap; it stops reading the
# slot (backpressure) and keeps the walsender content.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

# README: 8 MiB of unacknowledged sink data, plus buffers; AddressSanitizer's
# shadow memory and quarantine make any RSS figure meaningless, so a
# sanitized bridge gets no cap
my $cap_kb = $ENV{W2Q_SANITIZE} ? 1e9 : 64 * 1024;

sub peak_kb
{
	my ($b) = @_;
	my $pid = $b->{h}{KIDS}[0]{PID};
	my $status = slurp_file("/proc/$pid/status");
	return ($status =~ /VmHWM:\s+(\d+) kB/)[0];
}

my $node = new_node('memory', conf => "wal_sender_timeout = 5s\nlogical_decoding_work_mem = 4MB\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});

my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres',
	"INSERT INTO jobs SELECT g, 'payload of job ' || g FROM generate_series(1, 1000000) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1000000' }, 300),
	'a 1,000,000-row transaction arrives whole');
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 't' }, 120),
	'and is confirmed (its EXEC reply was read)');
my $peak = peak_kb($b);
ok($peak < $cap_kb, "bridge peak RSS ${peak} kB < ${cap_kb} kB for the big transaction");

# the walsender decoded it without the plugin accumulating memory: with
# logical_decoding_work_mem = 4MB the reorder buffer spills, and the plugin
# resets its context after every change
my $wpid = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'jobs'");
my ($anon) = slurp_file("/proc/$wpid/status") =~ /RssAnon:\s+(\d+) kB/;
ok($anon < 48 * 1024, "walsender private memory after 1,000,000 rows: ${anon} kB (< 48 MB)");
my $e = redis_json($r, 'XRANGE', 'public.jobs', '-', '+', 'COUNT', '1');
is({ @{ $e->[0][1] } }->{id}, '1', 'first job first');
redis($r, 'DEL', 'public.jobs');

# Redis frozen (SIGSTOP): jobs pile up in PostgreSQL, not in the bridge
$r->{h}->signal('STOP');
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..199 LOOP
	    INSERT INTO jobs SELECT g, repeat('y', 300) FROM generate_series(2000001 + t * 1000, 2000000 + t * 1000 + 1000) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
sleep 12;
ok($b->{h}->pumpable, 'the bridge waits');
$peak = peak_kb($b);
ok($peak < $cap_kb, "bridge peak RSS ${peak} kB < ${cap_kb} kB with Redis frozen and 60 MB of jobs waiting");
unlike(slurp_file($node->logfile), qr/terminating walsender process due to replication timeout/,
	'the walsender never timed out while the bridge stopped reading');
$r->{h}->signal('CONT');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '200000' }, 120), 'Redis thawed: every job arrives');

is(stop_bridge($b) >> 8, 0, 'clean stop');
stop_redis($r);
$node->stop;
done_testing();
