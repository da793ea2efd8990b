# What: the walsender of an open given up (571's: waiting on the slot
# registry's lock) does not go when it is ended: here it is stopped
# (SIGSTOP; in production a backend stuck on a disk).  Every later open
# must not leave one more walsender behind while it waits for that one.
# Why: bridge/stream.c end_given_up() ends the given-up walsender with
# pg_terminate_backend(pid, 2000); one still there then fails the open
# before any command that could wait (and keeps it to end again).
# Expected: the bridge says it waits for its own previous walsender (the
# stopped pid), never more than two walsenders of the bridge are up, and
# another replication client is accepted meanwhile; once the walsender
# goes (SIGCONT: the pending SIGTERM ends it) and the lock is gone, the
# bridge streams again and delivers the job.
# Severity: medium (as 571: max_wal_senders used up); no loss.
# Control: W2Q_ATTACK_CONTROL=1 stops no walsender: it is ended at the next
# open and the bridge never says it waits (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('stop596');
$node->append_conf('postgresql.conf', 'max_wal_senders = 5');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE oj (id int PRIMARY KEY);
});

my $b = start_streaming_bridge($node, $r, '--slot', 'oj', '--create-slot');
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '1' }, 30), 'job 1 delivered');
sigterm_bridge($b, 20);

$b = start_streaming_bridge($node, $r, '--slot', 'oj', '--recv-timeout', '10');
like(bridge_log($b), qr/streaming slot/, 'the second bridge (no --create-slot) streams');

sub walsenders
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'});
}

sub lock_waiter
{
	return $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'walsender' AND wait_event_type = 'Lock' ORDER BY backend_start LIMIT 1});
}

my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'oj'});
my $ws;
ok(wait_until(sub { ($ws = lock_waiter()) ne '' }, 30), "the reconnect's open waits on the lock");
kill 'STOP', $ws unless $control;

my $max = 0;
my $waits = qr/waiting for this bridge's own previous walsender \(pid $ws\), whose command was given up, to end/;
if ($control)
{
	ok(wait_until(sub { bridge_log($b) =~ /ended this bridge's own previous walsender \(pid $ws\)/ }, 60),
		'the given-up walsender is ended at the next open')
	  or diag(bridge_log($b));
}
else
{
	ok(wait_until(sub {
		my $n = walsenders();
		$max = $n if $n > $max;
		my @m = bridge_log($b) =~ /$waits/g;
		@m >= 2 }, 90),
		'the bridge waits for its stopped walsender, at two opens at least')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	cmp_ok($max, '<=', 2, "at most two walsenders of the bridge at a time (seen: $max)");
	my ($rc, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM',
		connstr => $node->connstr('postgres') . ' replication=database');
	is($rc, 0, 'another replication client is accepted meanwhile') or diag($err);
	kill 'CONT', $ws;
}
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $ws") eq '0' }, 30),
	'the given-up walsender is gone');
$lock->quit;
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '2' }, 60), 'then job 2 is delivered')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
unlike(bridge_log($b), $waits, 'the control never waits') if $control;
sigterm_bridge($b, 20);
stop_redis($r);
$node->stop;
done_testing();
