# What: a command of the stream's open that gets no answer (a query of the
# slot checks waiting on a lock, a path that goes silent after the
# connection was made) kept the bridge in a blocking PQexec: deaf to
# SIGTERM (libpq retries poll() on EINTR) and to --recv-timeout, for as
# long as the server kept silent.  (505 bounded the connect, not the
# commands after it.)
# Why: bridge/stream.c stream_run_command() and bridge/slot.c ran
# PQexec(); now stream_exec() runs them through pgerror_exec()
# (bridge/pgerror.c), which polls the socket every 200 ms, looks at the
# stop flag and gives a command up after the --recv-timeout bound
# (CREATE_REPLICATION_SLOT, which waits for running transactions, by the
# stop flag only).
# Expected: the open's command waiting on a lock is given up after
# --recv-timeout, named in the log, and the bridge reconnects; SIGTERM
# while the command waits ends the bridge within seconds; once the lock
# is gone the bridge streams again and delivers each job once.
# Severity: medium-low -- no loss (nothing is confirmed meanwhile), but a
# bridge that serves nothing and ignores `systemctl stop`.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('open560');
$node->append_conf('postgresql.conf', 'max_wal_senders = 20');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE oj (id int PRIMARY KEY);
});

# a walsender waiting for a lock on the slot registry (a reconnect's
# slot check reads it)
sub waiters
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE NOT l.granted AND l.relation = 'wal2queue.slots'::regclass
		  AND a.backend_type = 'walsender'});
}

sub lock_registry_and_cut
{
	my $lock = $node->background_psql('postgres');
	$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN ACCESS EXCLUSIVE MODE');
	$node->safe_psql('postgres', q{
		SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'oj'});
	return $lock;
}

# 1. --recv-timeout bounds the open's command, and the bridge comes back
my $b = start_streaming_bridge($node, $r, '--slot', 'oj', '--create-slot', '--recv-timeout', '10');
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '1' }, 30), 'job 1 delivered');
my $lock = lock_registry_and_cut();
ok(wait_until(sub { waiters() >= 1 }, 30), "the reconnect's slot check waits on the lock");
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (2)');
ok(wait_until(sub { bridge_log($b) =~
	/could not run SELECT on the replication connection: no answer from the server within/ }, 40),
	'the waiting command is given up after --recv-timeout, and named')
  or diag(bridge_log($b));
sub given_up
{
	my @m = bridge_log($b) =~ /could not run SELECT on the replication connection: no answer/g;
	return scalar @m;
}
ok(wait_until(sub { given_up() >= 2 }, 90), 'the bridge tried again on a new connection, and gave up again')
  or diag(bridge_log($b));
like(bridge_log($b), qr/ended this bridge's own previous walsender \(pid \d+\)/,
	'it ended the walsender of the command it gave up (it held the --create-slot lock)');
$lock->quit;
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '2' }, 90), 'once the lock is gone, job 2 is delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'public.oj'), '2', 'each job once');
$b->{h}->signal('TERM');
ok(wait_until(sub { !$b->{h}->pumpable }, 20), 'the bridge stops');

# 2. SIGTERM while the open's command waits (no --recv-timeout to save it)
$b = start_streaming_bridge($node, $r, '--slot', 'oj', '--recv-timeout', '0');
$lock = lock_registry_and_cut();
ok(wait_until(sub { waiters() >= 1 }, 30), "the reconnect's slot check waits on the lock again");
sleep 1;
my ($gone, $took) = sigterm_bridge($b, 30);
ok($gone && $took < 5, sprintf('SIGTERM ends the bridge while the command waits (%s after %.1f s)',
	$gone ? 'gone' : 'still running', $took))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
like(bridge_log($b), qr/stopped by a signal/, 'the log says the command was given up for the signal')
  if $gone;
$b->{h}->kill_kill unless $gone;
$lock->quit;
stop_redis($r);
$node->stop;
done_testing();
