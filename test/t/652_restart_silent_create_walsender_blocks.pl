# What: 622's silent path, but the bridge is restarted (kill -9 here; a
# service manager's restart, a rolling update) while its
# CREATE_REPLICATION_SLOT ... EXPORT waits for an application transaction
# behind the silent path.  The transaction ends: the old process's
# walsender makes the slot and stays "idle in transaction" (the exported
# snapshot, the --create-slot lock), and its backfill lock session stays
# idle holding the backfill lock; the server does not see the old process
# go.  The restarted bridge waits 30 s for the lock and exits 1 with the
# advice of 622's fix: "if no bridge with this command line runs, PID N is
# a leftover ...: end it with SELECT pg_terminate_backend(N)".  The
# operator does that.  The next start takes the backfill lock, finds the
# marker's slot and wants to drop it, and then waits, forever, for the
# old walsender: "replication slot "sj" is being created or backfilled by
# another bridge started with --create-slot (it holds the advisory lock
# (1999794432, hashtext('sj'))): left as it is (stop that bridge first);
# resuming the backfill in 10.0 s", again and again: no bridge is named
# (no PID, no state, no pg_terminate_backend), no exit, nothing backfilled
# or streamed, the exported snapshot holds back VACUUM's horizon.  The
# docs say a restart's leftover ends by itself about 25 s after the server
# reaches the bridge's host again (docs/operations.md): true for the lock's
# session only, which sets the server's TCP keepalives; the walsender's
# session keeps the server's default (2 h 11 min), and a walsender in
# command mode has no wal_sender_timeout.  The same wait follows a kill -9
# at the new path's step between end_previous() and end_given_up() (the
# same process ended its lock session, not yet its walsender: observed
# once, by polling the log every 10 ms).
# Why: bridge/backfill_lock.c lock_connect() sets tcp_keepalives_* on the
# lock's session only (622's fix); stream.c stream_connect() sets none on
# replication connections; slot.c stream_drop_slot() / the --create-slot
# lock's busy message names no holder (backfill_lock.c lock_holder() and
# leftover_hint() serve the backfill lock only), and its retry has no
# bound like lock_busy()'s BF_LOCK_GRACE_US.
# Expected: the walsender leftover is treated as the lock leftover: the
# server's TCP keepalives on the bridge's replication connections too, and
# the busy --create-slot lock named (PID, state, idle time) with the
# pg_terminate_backend() advice, bounded like the backfill lock's wait.
# Here: within 60 s of the operator's pg_terminate_backend of the lock's
# leftover, the bridge backfills, or its message names the walsender's PID
# with that advice.
# Severity: medium (a restart during a network cut at the first backfill's
# slot creation: the service stops for about 2 h after the path is back,
# with a message that blames another bridge and names none; no loss).
# Reliable (the restart is taken while the command waits: 2 of 2).
# Control (W2Q_ATTACK_CONTROL=1): the cut closes the connections (FIN): no
# leftover; the restart backfills at once.
# Fixed: slot.c slot_lock_holder() names the holder of the --create-slot
# lock in its busy messages (slot_lock_name(), stream_drop_slot()): PID,
# kind, role, application, state and idle time, "its last command a
# bridge's CREATE_REPLICATION_SLOT" when it is, and for a walsender of the
# bridge's role the pg_terminate_backend() to run if no bridge with this
# command line runs (never ended by the bridge: a live bridge's walsender
# looks the same); backfill.c drop_slot() waits for that lock 30 s, then
# exits 1 (--standby: as long as it takes).  stream.c stream_connect() sets
# the server's TCP keepalives (10 s, 5 s, 3) on every replication
# connection, as the backfill lock's session does, so such a walsender ends
# by itself about 25 s after the server can reach the bridge's host again
# (on a real network; here the proxy keeps the server's side open, so the
# test follows the advice instead).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('attlock652');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sj (id int PRIMARY KEY);
	INSERT INTO sj SELECT g FROM generate_series(1, 50) g;
});
my ($pport, $cut, $pid) = start_blackhole_proxy($node);
my $conn = "host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable";
my @args = ('-d', $conn, '--slot', 'sj', '--create-slot', '--backfill', '--tables', 'public.sj',
	'--status-interval', '1', '--recv-timeout', '5');

my $xact = $node->background_psql('postgres');
$xact->query_safe('BEGIN; SELECT pg_current_xact_id()');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%'
	  AND state = 'active'}) >= 1 }, 30), 'CREATE_REPLICATION_SLOT waits for the transaction');
open(my $fh, '>', $cut) or die;
close $fh;
sleep 1;						# the proxy's loop sees the cut file (0.2 s)
# the restart, while the command waits behind the silent path
$b->{h}->signal('KILL');
$b->{h}->finish;
my $log = bridge_log($b);
$xact->quit;
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sj'}) eq '1'
	  || $control }, 30), 'the old walsender made the slot');

my $key = q{hashtext('wal2queue-backfill:' || 'sj')};
my $holder = sub {
	$node->safe_psql('postgres', qq{SELECT coalesce(max(pid), 0) FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 1
	AND classid::text::bigint = (${key}::bigint >> 32) & 4294967295
	AND objid::text::bigint = ${key}::bigint & 4294967295});
};
my $lockpid = $holder->();
$b = start_bridge($node, $r, @args);
if ($lockpid)
{
	# the restart cannot tell the lock's leftover from another bridge's:
	# 30 s, exit 1, with the advice to end it
	ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the restart waited for the lock and exited');
	$b->{h}->finish;
	$log .= bridge_log($b);
	like(bridge_log($b), qr/PID $lockpid is a leftover.*pg_terminate_backend\($lockpid\)/,
		'naming the lock\'s leftover with the advice to end it');
	# the operator follows it
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($lockpid, 5000)"), 't',
		'the operator ends the lock\'s leftover');
	$b = start_bridge($node, $r, @args);
}
my $got = wait_until(sub {
	unless ($b->{h}->pumpable)
	{
		$b->{h}->finish;
		$log .= bridge_log($b);
		$b = start_bridge($node, $r, @args);
	}
	(redis($r, 'XLEN', 'public.sj') || 0) >= 50
	  || bridge_log($b) =~ /another bridge started with --create-slot.*PID (\d+).*pg_terminate_backend\(\1\)/ }, 60);
ok($got, 'the bridge backfills, or names the old walsender with the way to end it')
  or diag(join("\n", (grep { /ERROR|WARN/ && !/DEBUG/ } split /\n/, $log)[-4 .. -1])
	. "\nsessions: " . $node->safe_psql('postgres', q{SELECT string_agg(pid || ' ' || backend_type || ' '
	|| coalesce(state, '') || ' ' || left(coalesce(query, ''), 40), '; ') FROM pg_stat_activity
	WHERE usename = current_user AND pid <> pg_backend_pid() AND backend_type IN ('walsender', 'client backend')}));
# the advice names the old process's walsender, and following it unblocks
# the backfill
if ($got && (redis($r, 'XLEN', 'public.sj') || 0) < 50)
{
	my ($wpid) = bridge_log($b) =~ /another bridge started with --create-slot.*held by PID (\d+) \(walsender, [^)]*its last command a bridge's CREATE_REPLICATION_SLOT\).*pg_terminate_backend\(\1\)/;
	ok($wpid, 'the walsender named, a bridge\'s CREATE_REPLICATION_SLOT')
	  or diag(join("\n", grep { /create-slot/ } split /\n/, bridge_log($b)));
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid, 5000)"), 't',
		'the operator ends it') if $wpid;
	ok(wait_until(sub {
		unless ($b->{h}->pumpable)
		{
			$b->{h}->finish;
			$log .= bridge_log($b);
			$b = start_bridge($node, $r, @args);
		}
		(redis($r, 'XLEN', 'public.sj') || 0) >= 50 }, 40), 'then every row is backfilled');
}
$log .= bridge_log($b);
note(join("\n", grep { /ERROR|WARN|ended/ && !/DEBUG/ } split /\n/, $log));

my ($gone) = sigterm_bridge($b);
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop('immediate');
done_testing();
