# What: a bridge whose role may not run pg_terminate_backend() (EXECUTE
# revoked from PUBLIC, a common hardening step; the bridge role is not a
# superuser) and that held the backfill lock once, then lost it (an
# operator ended its lock session and took the documented key himself, or
# another bridge took it), never gives up on the busy lock: every attempt
# fails with "could not take the backfill's advisory lock of slot ...:
# permission denied for function pg_terminate_backend", for as long as the
# holder keeps the lock (every 10 s; 90 s in the test), instead of
# waiting 30 s and exiting 1 naming the holder ("another bridge is
# backfilling slot ..., held by PID ...").  The message blames the taking
# of the lock, which succeeded in telling that it is held, and never names
# the holder.
# Why: bridge/backfill_lock.c bf_lock_take() calls end_previous() whenever
# the lock is busy and a previous lock session of this process is
# remembered (bf->lock_pid); end_previous() runs end_fmt
# (pg_terminate_backend(a.pid, 2000) ... WHERE ...), whose EXECUTE check
# fails even when no row matches (the remembered session is long gone);
# end_previous() returns -1 before it forgets lock_pid, and bf_lock_take()
# turns -1 into got = -1, a BF_RETRY that never reaches lock_busy() and its
# BF_LOCK_GRACE_US.  (stream_own.c end_given_up() treats the same refusal
# as "left to the server" and goes on.)
# Expected: a refused end of a leftover is logged and forgotten (as
# end_given_up() does), and the busy lock is handled as any busy lock:
# named, waited for 30 s, exit 1 (here, within 90 s).
# Severity: low (no data is lost; a second replica or a bridge held off by
# an operator loops instead of exiting, with a misleading message).
# Control (W2Q_ATTACK_CONTROL=1): EXECUTE is not revoked; the same bridge
# exits 1 after 30 s naming the operator's session: passes.
# Fixed: backfill_lock.c end_previous() tells a refusal (the server
# answered with an error: no right to pg_terminate_backend(), a
# statement_timeout) from a command given up: a refusal is logged once
# ("could not end this bridge's own previous backfill lock session ...:
# left to the server"), the remembered sessions are forgotten, and the busy
# lock goes on to lock_busy() (30 s, exit 1 naming the holder), as
# stream_own.c end_given_up() does; only a command without an answer keeps
# them and retries.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('attlock650');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	ALTER TABLE jobs OWNER TO bridge;
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 30) g;
});
$node->safe_psql('postgres', q{REVOKE EXECUTE ON FUNCTION pg_terminate_backend(integer, bigint) FROM PUBLIC})
  unless $ENV{W2Q_ATTACK_CONTROL};

my $slot = 'bf_att650';
my $key = "hashtext('wal2queue-backfill:' || '$slot')";
my $a = do
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'first-state';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 6;
	start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--slot', $slot,
		'--create-slot', '--tables', 'public.jobs', '--backfill', '--backfill-batch=10',
		'--status-interval', '1');
};
ok(wait_until(sub { bridge_log($a) =~ /paused at "first-state"/ }, 60), 'the bridge holds the lock, paused')
  or diag(bridge_log($a));

# the operator ends the bridge's lock session and holds the key himself
my $op = $node->background_psql('postgres', on_error_stop => 1);
my $oppid = $op->query_safe(q{SELECT pg_backend_pid()});
$oppid =~ s/\s+//g;
is($node->safe_psql('postgres', qq{SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 1
	AND classid::text::bigint = (${key}::bigint >> 32) & 4294967295
	AND objid::text::bigint = ${key}::bigint & 4294967295}), '1', 'its lock session ended');
$op->query_safe(qq{SELECT pg_advisory_lock($key)});

ok(wait_until(sub { !$a->{h}->pumpable }, 90), 'the bridge gave up on the busy lock')
  or diag(join "\n", (grep { /ERROR|WARNING|INFO.*lock/ } split /\n/, bridge_log($a))[0 .. 5]);
like(bridge_log($a), qr/ERROR.*another bridge is backfilling slot "\Q$slot\E".*held by PID $oppid\b/,
	'naming the holder');
unlike(bridge_log($a), qr/could not take the backfill's advisory lock.*permission denied/,
	'no "could not take" for a lock it saw held');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my $n = () = bridge_log($a) =~ /could not end this bridge's own previous backfill lock session.*permission denied/g;
	is($n, 1, 'the refusal said once');
}
stop_bridge($a, 'KILL') if $a->{h}->pumpable;
$op->quit;
stop_redis($r);
$node->stop;
done_testing();
