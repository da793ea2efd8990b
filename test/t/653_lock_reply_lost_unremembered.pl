# What: the path to the server goes silent while the backfill lock's own
# command is in flight: the server runs "SELECT
# pg_catalog.pg_try_advisory_lock(...), <server start>, pg_backend_pid(),
# <backend start>" (the lock is taken) and its answer never comes (W2QProxy
# freeze_on: that connection frozen once the command has reached the
# server; every later connection is served in full).  After --recv-timeout
# the bridge gives the command up ("could not take the backfill's advisory
# lock ..."), drops the connection (the server does not see it go), and
# its next attempt finds the lock held by that session: it was never
# remembered, so the same process waits 30 s for "another bridge is
# backfilling slot ..." (naming its own leftover: "its last query a
# bridge's lock query") and exits 1; every restart the same, for as long
# as the server keeps the session (in the test, for ever; behind a real
# cut, until the server's TCP keepalive once packets flow again).
# Why: bridge/backfill_lock.c lock_try(): the session's identity (pid,
# backend start, server start) is read in the same statement that takes
# the lock, and remembered (bf->lock_pid) only from its answer; a
# given-up lock_try leaves bf->lock_pid as it was (0 at the first attempt,
# or 0 after end_previous() ended the last one), so end_previous() never
# sees the new leftover.  622's fix covers a lock session given up after
# its identity was read, not this one.
# Expected: as 622's fix for a later command: the same process ends its
# own leftover (read the identity on the new connection before it takes
# the lock, and remember it then) and backfills every row within 60 s.
# Severity: low (the window is one round trip per attempt; the service
# stops until the server's keepalive ends the session, blaming another
# bridge; no loss).  Reliable in the test (the freeze is keyed on the
# command's text).
# Control (W2Q_ATTACK_CONTROL=1): the proxy closes that connection instead
# (the server sees the client go and the lock dies with it): passes.
# Fixed: backfill_lock.c lock_try() reads the session's identity (server
# start, pid, backend start) in a statement of its own before the lock
# command, and remembers the session when the lock command had no answer
# or failed, as when it took the lock (up to two sessions: the last holder
# and one whose answer was lost; only one of them can hold the lock);
# end_previous() ends whichever holds it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('attlock653');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sj (id int PRIMARY KEY);
	INSERT INTO sj SELECT g FROM generate_series(1, 50) g;
});
my ($pport, $cut, $pid) = start_blackhole_proxy($node,
	freeze_on => qr/pg_try_advisory_lock\(pg_catalog\.hashtext\('wal2queue-backfill:'/);
my $conn = "host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable";
my @args = ('-d', $conn, '--slot', 'sj', '--create-slot', '--backfill', '--tables', 'public.sj',
	'--status-interval', '1', '--recv-timeout', '5');
my $b = start_bridge($node, $r, @args);
my $log = '';
my $restarts = 0;
my $got = wait_until(sub {
	unless ($b->{h}->pumpable)
	{
		$b->{h}->finish;
		$log .= bridge_log($b);
		$b = start_bridge($node, $r, @args);
		$restarts++;
	}
	(redis($r, 'XLEN', 'public.sj') || 0) >= 50 }, 60);
$log .= bridge_log($b);
ok($got, "every row backfilled within 60 s ($restarts restarts)")
  or diag(join("\n", (grep { /ERROR|WARN|LOG: (another|the backfill lock)/ && !/DEBUG/ } split /\n/, $log)[0 .. 4]));
unlike($log, qr/another bridge is backfilling/, 'no other bridge was blamed');
note(join("\n", grep { /ERROR|WARN|ended/ && !/DEBUG/ } split /\n/, $log));
my ($gone) = sigterm_bridge($b);
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop('immediate');
done_testing();
