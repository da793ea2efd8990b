# What: the first start with --create-slot while a transaction that holds
# an xid is open (an idle-in-transaction session, a long batch job, a
# prepared transaction): CREATE_REPLICATION_SLOT waits, by design, until
# every transaction running when it started has ended -- and the bridge
# waits with it in PQexec(), where SIGTERM (systemctl stop, a deploy, ^C
# on the first try) is noted and never looked at.  Session 8 made the
# connect hear the stop flag (attack 505); the commands of stream_open()
# after it do not.  The bridge cannot be stopped until that transaction
# ends (or SIGKILL, which leaves the half-made slot to the server).
# Why: bridge/slot.c create_slot() -> bridge/stream.c stream_run_command():
# a blocking PQexec(); bridge/main.c's handler only sets
# bridge_stop_requested, libpq's pqWait() retries poll() on EINTR.
# Expected: SIGTERM ends the bridge within a few seconds also while it
# waits for the server's answer to a command of the (re)connect
# (PQsendQuery and a poll loop that looks at the stop flag, then
# PQcancel); no slot is left behind (the cancelled CREATE_REPLICATION_SLOT
# makes none).
# Severity: medium-low -- the wait is the server's and legitimate, but
# the bridge gives no way out but SIGKILL for as long as the transaction
# lives (hours for a forgotten session); no loss.
# Fixed: bridge/stream.c stream_exec() (bridge/pgerror.c pgerror_exec()):
# every command of the open is PQsendQuery and a poll loop that looks at
# the stop flag every 200 ms; CREATE_REPLICATION_SLOT is bounded by the
# stop flag only (its wait is the server's and legitimate), the others
# also by --recv-timeout (test/t/545, 560).
# Control (W2Q_ATTACK_CONTROL=1): the transaction is not open: the slot is
# created, and SIGTERM ends the streaming bridge at once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('deaf547');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE cj (id int PRIMARY KEY)');

my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN; INSERT INTO cj VALUES (0)') unless $control;

my $b = start_bridge($node, $r, '--slot', 'cj', '--create-slot', '--accept-new-source',
	'--status-interval', '1', '--recv-timeout', '2');
if ($control)
{
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "cj"/ }, 30), 'the slot is created, the bridge streams')
	  or diag(bridge_log($b));
}
else
{
	ok(wait_until(sub {
		$node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' "
			  . "AND query LIKE 'CREATE_REPLICATION_SLOT%'") eq '1' }, 30),
		'the bridge waits in CREATE_REPLICATION_SLOT for the open transaction')
	  or diag(bridge_log($b));
	sleep 3;
}
my ($gone, $took) = sigterm_bridge($b);
ok($gone && $took < 10, sprintf('SIGTERM ends the bridge promptly (%s after %.1f s)',
		$gone ? 'gone' : 'still running', $took))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
$b->{h}->kill_kill unless $gone;
$open->query_safe('COMMIT') unless $control;
$open->quit;
stop_redis($r);
$node->stop;
done_testing();
