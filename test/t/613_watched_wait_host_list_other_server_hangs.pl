# What: 602's silent path, with a host list (-d "host=A,B port=PA,PB"), the
# usual way to name a primary and its replacement: the bridge's connection
# goes to A (through a TCP path, W2QProxy), --create-slot's
# wal2queue.register_slot() waits on a lock of wal2queue.slots, and while
# it waits A's path goes silent for good without a FIN or RST, new
# connections to A hang too (hold_new: the host is gone, as at a
# failover).  The lock is released on A: the registration commits there,
# its answer never arrives.  At each --recv-timeout bound the side check
# connects through the same conninfo: A hangs, libpq's next host B
# answers, with another server start, which "tells nothing": the wait
# goes on, for ever (the kernel's keepalive: 2 h 11 min by default).  The
# jobs inserted on B (which the bridge would stream from after a
# reconnect) are not delivered within 90 s; the log shows only the side
# check's "trying the next address or host" at each bound.
# Why: bridge/stream.c own_command_running() gives up only on "the same
# server start shows the backend idle or gone"; a check that lands on
# another server returns true (running) at every bound, and
# bridge/pgerror.c exec_watched() waits another bound, bounded by the stop
# flag only.  README ("a path that goes silent during that wait is told
# from a lock wait at each bound ... and given up") does not hold when the
# conninfo names more than one server, and the server the command runs on
# is unreachable: the failover case.
# Expected: a wait whose side check keeps landing elsewhere (or cannot
# reach the server it runs on) for some bounds is given up, as the stream
# is after --recv-timeout; the bridge reconnects (to B) and its usual
# checks decide (here: B has no slot: --create-slot creates and streams).
# Severity: medium-low -- as 602 before its fix: a stall of hours at the
# first run, silent, exactly at a failover (SIGTERM ends it); no loss.
# Reliable.
# Fixed: a check that cannot reach the server the command runs on, or
# reaches another system (pg_control_system()'s identifier is not the one
# IDENTIFY_SYSTEM gave), tells nothing, but three such bounds in a row give
# the command up (stream.c own_check_blind()), as the stream is given up
# after --recv-timeout; the bridge reconnects and its usual checks decide.
# Control (W2Q_ATTACK_CONTROL=1): the path is closed at the cut (FIN),
# not silent: the bridge sees it go, reconnects to B, streams.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $a = new_node('a613');
my $bn = new_node('b613');
my $r = start_redis();
for my $n ($a, $bn)
{
	$n->safe_psql('postgres', q{
		CREATE EXTENSION wal2queue;
		CREATE TABLE sj (id int PRIMARY KEY);
	});
}
my ($pport, $cut, $pid) = start_blackhole_proxy($a, hold_new => 1);

my $lock = $a->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN SHARE MODE');
my $conn = "host=127.0.0.1," . $bn->host . " port=$pport," . $bn->port
  . " dbname=postgres sslmode=disable gssencmode=disable";
my $b = start_bridge($a, $r, '-d', $conn, '--slot', 'sj', '--create-slot',
	'--status-interval', '1', '--recv-timeout', '5');
ok(wait_until(sub { $a->safe_psql('postgres', q{
	SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE NOT l.granted AND l.relation = 'wal2queue.slots'::regclass
	  AND a.backend_type = 'walsender'}) >= 1 }, 30), 'the registration waits on the lock on A');
open(my $fh, '>', $cut) or die;
close $fh;
sleep 1;						# the proxy's loop sees the cut file (0.2 s)
$lock->quit;
ok(wait_until(sub { $a->safe_psql('postgres',
	q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'sj'}) eq '1' }, 30),
	'the registration committed on A');
my $t0 = time;
my $got = wait_until(sub {
	$bn->safe_psql('postgres', 'INSERT INTO sj SELECT coalesce(max(id), 0) + 1 FROM sj');
	(redis($r, 'XLEN', 'public.sj') || 0) >= 1 }, 90);
ok($got, sprintf('the bridge moves on to B and delivers a job of B within 90 s (%s after %.0f s)',
	$got ? 'yes' : 'no', time - $t0))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
diag('the bridge waits in: ' . `cat /proc/$b->{h}{KIDS}[0]{PID}/wchan 2>/dev/null`) unless $got;
my ($gone, $took) = sigterm_bridge($b);
ok($gone, sprintf('SIGTERM ends the bridge (%s after %.1f s)', $gone ? 'gone' : 'still running', $took));
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$a->stop;
$bn->stop;
done_testing();
