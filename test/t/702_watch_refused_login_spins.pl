# Fixed: bridge/slotwatch.c connect_failed(): a failed connect sets
# retry_us, before which slotwatch_turn() starts no connect, whatever is
# due (an attestation, the publication's poll, the keys): 1 s after the
# first failure, then twice as long each time up to the interval
# (--status-interval); a connect that succeeds starts it again at 1 s.
#
# What: once a session is attested, the slot watch's connection is lost
# and the server refuses its new logins at once (here the database stops
# accepting connections, ALTER DATABASE ... ALLOW_CONNECTIONS false; the
# same for max_connections reached, "the database system is shutting
# down", a pg_hba.conf reject, a password changed, a connection limit):
# the stream, connected, goes on.  The watch tries again at once, in every
# turn of the loop that wakes (here about 4 a second, at
# --status-interval 2; every few ms while the stream is busy: 701's log
# at a fast shutdown), each a fork on the
# server and a FATAL in its log; with -v a DEBUG line each), for as long
# as the refusal lasts; with pgoutput the same from the publication's poll
# (seen at a fast shutdown: test/attack/701's log).
# Why: bridge/slotwatch.c slotwatch_turn(): with no connection it connects
# whenever an attestation is due (now >= next_attest_us) or the
# publication's poll is (pub->next_us, 0 at a session's start), and only a
# sent query moves those on: a connect that fails moves on next_us only,
# so the next turn connects again.
# Expected: a failed connect waits for the next interval (--status-interval)
# before the watch connects again, whatever is due.
# Severity: low -- a connection storm against a server that is already
# refusing logins (max_connections reached: every attempt takes a fork and
# a slot of the postmaster), a busy bridge thread and, with -v, a log
# flood; nothing lost.
# Reliable (deterministic).
#
# Control (W2Q_ATTACK_CONTROL=1): logins are not refused: the watch
# reconnects once and nothing fails.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('spin702');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sa (id int PRIMARY KEY);
});
my $b = start_bridge($node, $r, '--slot', 'sa', '--create-slot', '--status-interval', '2');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT coalesce(max(id), 0) + 1 FROM sa');
	(redis($r, 'XLEN', 'public.sa') || 0) >= 1 }, 30), 'sa: streaming')
  or diag(bridge_log($b));
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 30),
	'sa: the slot was attested');
# from here the test's own sessions use template1
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false') unless $control;
is($node->safe_psql('template1', q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE backend_type = 'client backend' AND datname = 'postgres'}), '1',
	"sa: the watch's connection is ended");
my $from = length(bridge_log($b));
# a window of 6 s: at --status-interval 2, three or four attempts
usleep(6_000_000);
my @failed = grep { /slot watch: could not connect/ } split /\n/, substr(bridge_log($b), $from);
cmp_ok(scalar(@failed), '<=', 4, 'sa: the watch connects at most once an interval while refused')
  or diag(scalar(@failed) . " connects in 6 s; the first:\n" . join("\n", @failed[0 .. 2]));
ok($b->{h}->pumpable, 'sa: the bridge still runs');
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true');
$b->{h}->kill_kill;
stop_redis($r);
$node->stop('immediate');
done_testing();
