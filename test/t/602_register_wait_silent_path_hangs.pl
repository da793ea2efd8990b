# What: --create-slot through a TCP path (W2QProxy): the slot is created,
# its wal2queue.register_slot() waits on a lock (wal2queue.slots held in
# SHARE mode, as a CREATE INDEX does), and while it waits the path goes
# silent without a FIN or RST (a stateful firewall that lost its table;
# new connections get through).  The lock is released: the registration
# commits on the server, its answer never arrives.  The bridge waits for
# it for ever (the kernel's keepalive: 2 h 11 min by default): job 1 is not
# delivered within 90 s, nothing is logged; --recv-timeout 10 bounds
# nothing here.
# Why: bridge/stream.c stream_exec() runs CREATE_REPLICATION_SLOT and
# register_slot()/unregister_slot() through pgerror_exec() bounded by the
# stop flag only (570's fix), so that a lock wait is not given up; a
# silent path is then not told from a lock wait, and README's "a path to
# PostgreSQL that goes silent without a FIN or RST is noticed
# (--recv-timeout ...)" does not hold during those commands.
# Expected: the bridge notices the silent path (the server's side can be
# asked: pg_stat_activity's wait_event of its walsender on another
# connection, or a ping after --recv-timeout) and streams within a few
# --recv-timeouts; job 1 delivered.
# Severity: medium-low -- a stall of the first run for hours after a
# network blip at the wrong moment, silent (SIGTERM still ends it); no loss.
# Fixed: at each --recv-timeout bound of such a wait the bridge asks the
# server, from a connection of its own, whether its backend still runs the
# command (stream.c own_command_running(), pgerror_exec_watched()): a
# backend of the same server start (epoch) shown idle or gone means the
# answer was sent, or the connection ended, and never came, so the command
# is given up ("the path went silent") and the next open goes on (here:
# the slot exists, registered, created by this bridge: it streams).  Only
# positive evidence gives up: a lock wait shows the backend active (570
# holds), and an unreachable server, or another one behind the conninfo,
# tells nothing.
# Control (W2Q_ATTACK_CONTROL=1): the cut closes the connection (the
# bridge sees it go): it reconnects, finds its slot registered, streams.
# Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('silent602');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sj (id int PRIMARY KEY);
});
my ($pport, $cut, $pid) = start_blackhole_proxy($node);

my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN SHARE MODE');
my $b = start_bridge($node, $r, '-d',
	"host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable",
	'--slot', 'sj', '--create-slot', '--status-interval', '1', '--recv-timeout', '10');
ok(wait_until(sub { $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE NOT l.granted AND l.relation = 'wal2queue.slots'::regclass
	  AND a.backend_type = 'walsender'}) >= 1 }, 30), 'the registration waits on the lock');
open(my $fh, '>', $cut) or die;
close $fh;
sleep 1;						# the proxy's loop sees the cut file (0.2 s)
$lock->quit;
ok(wait_until(sub { $node->safe_psql('postgres',
	q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'sj'}) eq '1' }, 30),
	'the registration committed on the server');
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (1)');
my $t0 = time;
my $got = wait_until(sub { (redis($r, 'XLEN', 'public.sj') || 0) >= 1 }, 90);
ok($got, sprintf('job 1 delivered within 90 s (%s after %.0f s)', $got ? 'yes' : 'no', time - $t0))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
like(bridge_log($b), qr/could not run SELECT on the replication connection: the server finished the command and its answer never came: the path went silent/,
	'the bridge says why it gave the registration up');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '1', 'one slot');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'sj'}), '1',
	'and it stays registered');
diag('the bridge waits in: ' . `cat /proc/$b->{h}{KIDS}[0]{PID}/wchan 2>/dev/null`) unless $got;
my ($gone, $took) = sigterm_bridge($b);
ok($gone, sprintf('SIGTERM ends the bridge (%s after %.1f s)', $gone ? 'gone' : 'still running', $took));
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop;
done_testing();
