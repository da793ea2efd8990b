# Fixed: slotwatch.c slotwatch_server(): at each stream session's start the
# watch is pinned to the server the stream reached (its host, address and
# port, pgconnect.c pgerror_conninfo_same_server()): it asks the server
# that holds the slot, never a silent host before it in the list, and the
# last attestation at the stop too.
#
# What: --dbname names two hosts (host=A,B: a standby pair, a failover
# list) and the first accepts TCP connections but never answers (a
# firewall that drops after the handshake, a hung server, a dead proxy).
# The stream gets through to B (pgerror_connect() gives each host its
# bound and moves on: test/t/548), but the slot watch never does: every
# connect of the watch is given up after WATCH_ANSWER_TIMEOUT_MS (3 s) and
# the next one starts at host A again.  So the slot is never attested (prune()
# counts nothing it delivered), there is no health, and with pgoutput the
# publication is never proved: the stream is dropped every
# PUBWATCH_STALE_MS ("could not read publication ... reconnecting"), each
# time it has something to confirm, for as long as host A stays silent.
# The last attestation at the stop gives up the same way (2 s on host A).
# Why: bridge/slotwatch.c slotwatch_turn() / start_connect() /
# watch_overdue(): PQconnectStartParams() and PQconnectPoll() without a
# per-host bound (libpq's connect_timeout is applied by its blocking
# connect only), and watch_overdue() (624's fix) closes the whole attempt
# after 3 s instead of moving on to the next host as poll_connection()
# does (bridge/pgconnect.c, attack 548); slotwatch_attest_final() /
# final_connect() likewise spend the whole 2 s on host A.  Before 624's fix
# (75442636, main before its merge) the watch's connect waited on host A
# for ever (the 2nd and 5th checks fail there too: the defect is older),
# but the last attestation was made (PQconnectdbParams() with
# connect_timeout=2 gave host A 2 s, then B): the 3rd check is new with
# the fix.
# Expected: the watch, like the stream, reaches host B (each host its own
# bound within the 3 s, or the next attempt starting past the host given
# up), the slot is attested, and pgoutput's stream is not dropped.
# Severity: medium -- with a multi-host --dbname whose first host is
# silent, prune() never deletes that slot's jobs (the job tables grow), no
# wal_status/safe_wal_size health, and a pgoutput bridge reconnects every
# 5 s and confirms nothing (WAL kept on the server for as long as it lasts).
# Reliable (deterministic: 2 of 2 on main at 9107cd89: checks 2, 3 and 5).
# Control (W2Q_ATTACK_CONTROL=1): the live host first: attested, not
# dropped.  Passes.
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('multi680');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE ma (id int PRIMARY KEY);
	CREATE TABLE mb (id int PRIMARY KEY);
});
# accepts (the kernel's backlog) and never answers
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my @hosts = ([ '127.0.0.1', $silent->sockport ], [ $node->host, $node->port ]);
@hosts = reverse @hosts if $control;
my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres connect_timeout=2',
	$hosts[0][0], $hosts[1][0], $hosts[0][1], $hosts[1][1]);

sub not_debug
{
	my ($b) = @_;
	return join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b));
}

# 1. the wal2queue plugin, the extension: the slot is attested
my $b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'ma', '--create-slot',
	'--status-interval', '1', '--recv-timeout', '5');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO ma SELECT coalesce(max(id), 0) + 1 FROM ma');
	(redis($r, 'XLEN', 'public.ma') || 0) >= 1 }, 40), 'ma: the stream reaches the live host')
  or diag(not_debug($b));
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'ma'") eq 't' }, 30),
	'ma: the slot watch attests the slot (it reached the live host too)')
  or diag(not_debug($b) . "\n" . join("\n", (grep { /slot watch/ } split /\n/, bridge_log($b))[0 .. 5]));
my ($gone, $took) = sigterm_bridge($b, 20);
$b->{h}->kill_kill unless $gone;
unlike(bridge_log($b), qr/could not attest slot "ma" at the stop/, 'ma: the last attestation is made')
  or diag(not_debug($b));

# 2. pgoutput: the publication's poll is the watch's; the stream stays
$b = start_bridge($node, $r, '-d', $conninfo, '--plugin', 'pgoutput', '--publication', 'w2q',
	'--tables', 'public.mb', '--slot', 'mb', '--create-slot', '--status-interval', '1',
	'--recv-timeout', '5');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO mb SELECT coalesce(max(id), 0) + 1 FROM mb');
	(redis($r, 'XLEN', 'public.mb') || 0) >= 1 }, 40), 'mb: the stream reaches the live host')
  or diag(not_debug($b));
wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO mb SELECT max(id) + 1 FROM mb');
	bridge_log($b) =~ /could not read publication/ }, 15);
unlike(bridge_log($b), qr/could not read publication/, 'mb: the stream was not dropped in 15 s')
  or diag(not_debug($b));
$b->{h}->kill_kill;
stop_redis($r);
$node->stop('immediate');
done_testing();
