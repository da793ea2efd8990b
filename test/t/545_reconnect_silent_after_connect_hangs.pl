# What: the path to PostgreSQL goes silent while the bridge reconnects, a
# moment after the connection was made (the startup packet and the server's
# answer went through; the next packet, IDENTIFY_SYSTEM, is lost and the
# path stays silent, as a partition or a dying proxy does).  Session 8 gave
# the connect a deadline and the stop flag (attack 505), but stream_open()'s
# commands after it (IDENTIFY_SYSTEM, the slot queries, START_REPLICATION)
# are plain PQexec() calls: no --recv-timeout, no deadline, no stop flag.
# The bridge waits in PQexec for TCP keepalive (Linux: 2 h 11 min), even
# after the path is back, and SIGTERM does not end it.
# Why: bridge/stream.c stream_run_command() (and the PQexec() calls of
# bridge/slot.c registry_state(), slot_query_u64(), stream_end_own_walsender())
# block in libpq's pqWait() without a timeout; the signal handler only sets
# bridge_stop_requested, and libpq retries poll() on EINTR.
# Expected: a command of the (re)connect is bounded as the connect is
# (--recv-timeout, or the default bound; PQsendQuery + poll with a deadline
# and the stop flag): once the path is back the bridge reconnects and
# delivers; SIGTERM ends it within a few seconds.
# Severity: medium -- a network blip at the wrong moment stops delivery for
# hours (no loss, nothing confirmed), and `systemctl stop` waits
# TimeoutStopSec then SIGKILLs.
# Fixed: bridge/stream.c stream_exec() (bridge/pgerror.c pgerror_exec()):
# every command of the open gives up after --recv-timeout's bound and hears
# the stop flag; and a given-up command's walsender replaces the bridge's
# own last stream's (own_pid) only when it holds the --create-slot lock
# (s->conn_locked): else the lingering stream walsender, which still holds
# the slot, was forgotten and the slot stayed "active for PID" until
# wal_sender_timeout (the run against main's stream_exec() failed here).
# Control (W2Q_ATTACK_CONTROL=1): the proxy holds the new connections
# before the startup packet instead (attack 505's case, in the connect):
# the same silence, bounded; the bridge delivers after the path is back,
# and SIGTERM ends it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('silent545');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE sj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('sj', 'wal2queue');
});

# A TCP proxy to the node.  While $cut exists: the connections made before
# are frozen (kept open, never served again); a new connection gets its
# startup packet through to the server and the server's answers back, and
# nothing the client sends after it (control: nothing at all).  Once $cut
# is gone, new connections are served in full (frozen ones stay frozen).
my ($pport, $cut, $pid) = start_blackhole_proxy($node, close_on_cut => 0,
	$control ? (hold_new => 1) : (startup_only => 1));

my $b = start_streaming_bridge($node, $r, '-d',
	"host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable",
	'--slot', 'sj', '--status-interval', '1', '--accept-new-source', '--recv-timeout', '2');
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.sj') eq '1' }, 30), 'job 1 delivered through the proxy');
open(my $fh, '>', $cut) or die;
close $fh;
ok(wait_until(sub { bridge_log($b) =~ /taken for lost/ }, 30), 'the silence is noticed, the bridge reconnects')
  or diag(bridge_log($b));
# the reconnect: connected (or, control, held in the connect) and silent
sleep 8;
unlink $cut;
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (2)');
my $t0 = time;
my $got = wait_until(sub { redis($r, 'XLEN', 'public.sj') eq '2' }, 60);
ok($got, sprintf('the path is back: job 2 delivered (%s after %.0f s)', $got ? 'yes' : 'no', time - $t0))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
if (!$got)
{
	diag('the bridge waits in: ' . `cat /proc/$b->{h}{KIDS}[0]{PID}/wchan 2>/dev/null`);
}
my ($gone, $took) = sigterm_bridge($b);
ok($gone && $took < 10, sprintf('SIGTERM ends the bridge promptly (%s after %.1f s)',
		$gone ? 'gone' : 'still running', $took));
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop;
done_testing();
