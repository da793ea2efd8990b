# Fixed: slotwatch.c connect_bound_ms(): the watch's connect is held to
# the stream's bound (--dbname's connect_timeout, else
# PGERROR_CONNECT_MIN_S, 10 s), WATCH_ANSWER_TIMEOUT_MS (3 s) only to a
# query in flight: slow logins within the bound connect, the publication
# is proved again and the stream stays.
#
# What: the server takes longer than 3 s to let a new connection in (an
# authentication that waits on LDAP, RADIUS or PAM, a loaded server's fork
# and authentication, a slow path's round trips; here pre_auth_delay = 4),
# and --dbname's connect_timeout allows it (10 s).  The stream connects;
# the slot watch never does again once its connection is lost: every
# attempt is given up after WATCH_ANSWER_TIMEOUT_MS (3 s) and the next
# starts over.  With pgoutput the publication is never proved again, and
# the stream is dropped every PUBWATCH_STALE_MS ("could not read
# publication ... reconnecting"); with either plugin the slot is not
# attested any more and there is no health.
# Why: bridge/slotwatch.c slotwatch_turn() / watch_overdue() (624's fix):
# the connect in progress is held to WATCH_ANSWER_TIMEOUT_MS, a bound meant
# for a query without an answer, not to --dbname's connect_timeout (the
# stream's bound: pgconnect.c poll_connection()), and a connect given up
# is started again from nothing, so it never gets further.
# Expected: the watch's connect has the stream's bound (connect_timeout,
# or the default bound without it); the stream is not dropped while the
# server answers, if slowly.
# Severity: medium -- with pgoutput, a server whose logins take over 3 s
# gets a bridge that drops and reopens its stream every 5 s once its
# watch's connection is lost once (idle_session_timeout, a restart of a
# pooler, a network blip), confirming at most what each session's start
# proved (WAL kept on the server); with either plugin no attestation for
# prune() and no health.
# Reliable (deterministic: 2 of 2 on main at 9107cd89, the 4th check).
# Before 624's fix (75442636, main before its merge) the watch waited its
# 4 s and went on (passes): new with the fix.
# Fixed: slotwatch.c connect_bound_ms(): the watch's connect is held to
# the stream's bound (--dbname's connect_timeout, else
# PGERROR_CONNECT_MIN_S, 10 s), WATCH_ANSWER_TIMEOUT_MS (3 s) only to a
# query in flight: slow logins within the bound connect, and the slot is
# attested again.  The test checks that (no connect given up at 3 s, a new
# attestation after the kill) rather than the stream's staying up: the
# watch's first reconnect, 4 s of login, races PUBWATCH_STALE_MS (5 s) and
# may drop the stream once either way.
#
# Control (W2Q_ATTACK_CONTROL=1): logins are quick (pre_auth_delay 0);
# the watch's connection is ended the same way: the stream stays.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('auth683');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sa (id int PRIMARY KEY);
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' connect_timeout=10',
	'--plugin', 'pgoutput', '--publication', 'w2q', '--tables', 'public.sa',
	'--slot', 'sa', '--create-slot', '--status-interval', '1');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT coalesce(max(id), 0) + 1 FROM sa');
	(redis($r, 'XLEN', 'public.sa') || 0) >= 1 }, 30), 'sa: streaming')
  or diag(bridge_log($b));
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 30),
	'sa: the slot was attested');
# logins now take 4 s; the watch's connection is lost (ended here)
$node->safe_psql('postgres', 'ALTER SYSTEM SET pre_auth_delay = 4; SELECT pg_reload_conf()')
  unless $control;
# (PGAPPNAME, which the test framework sets, names it: every client
# backend but this one)
is($node->safe_psql('postgres', q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}), '1',
	"sa: the watch's connection is ended");
my $killed_at = $node->safe_psql('postgres', 'SELECT now()');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT max(id) + 1 FROM sa');
	$node->safe_psql('postgres', "SELECT attested_at > '$killed_at' FROM wal2queue.slots
		WHERE slot_name = 'sa'") eq 't' }, 30), 'sa: the slot is attested again, on a slow login')
  or diag(join("\n", grep { !/DEBUG: confirmed/ } split /\n/, bridge_log($b)));
unlike(bridge_log($b), qr/slot watch: no answer from the server within/,
	"sa: no watch connect was given up before the stream's bound")
  or diag(join("\n", grep { !/DEBUG: confirmed/ } split /\n/, bridge_log($b)));
$b->{h}->kill_kill;
stop_redis($r);
$node->stop('immediate');
done_testing();
