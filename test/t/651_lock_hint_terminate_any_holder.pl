# What: a bridge (without --standby) that finds the backfill lock held by
# a session that is plainly not a bridge's (role alice, not the bridge's
# role; its own application name; its last query "SELECT
# pg_advisory_lock(...)", not a bridge's lock query, so the message itself
# leaves out "its last query a bridge's lock query") exits after 30 s
# with the advice "if no bridge with this command line runs, PID N is a
# leftover of one whose connection was lost without the server noticing
# ...: end it with SELECT pg_terminate_backend(N)".  No bridge with that
# command line runs (the operator checks that: the bridge just exited),
# so the advice tells the operator to end another application's session
# (an application that holds that advisory key on purpose, or whose own
# bigint key collides with hashtext('wal2queue-backfill:<slot>')).
# Why: bridge/backfill_lock.c leftover_hint() is given whenever the holder's
# pid is known (lock_busy(), backfill_lock_hold()); lock_holder() reads
# whether the holder's last query is a bridge's lock query, its role and
# application, but the hint does not depend on them.
# Expected: the pg_terminate_backend() advice only for a holder that can
# be a bridge's leftover (of the bridge's role, its last query a bridge's
# lock query, or its activity hidden from the bridge's role); another
# holder is named as a session that is not a bridge's.
# Severity: low (misleading advice in an ERROR; an operator following it
# ends an unrelated session).
# Control (W2Q_ATTACK_CONTROL=1): the holder is a session of the bridge's
# role whose last query is the bridge's lock query (a leftover's shape):
# the advice is right there, and the test checks it is given.
# Fixed: backfill_lock.c lock_holder() also reads whether the holder's role
# is this session's, and leftover_hint() gives the pg_terminate_backend()
# advice only for a holder of the bridge's role whose last query is a
# bridge's lock query; any other holder is named with a neutral line ("PID
# N is not a bridge's lock session (...): another application holds that
# key; find out which before anything is ended").
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('attlock651');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 20) g;
	CREATE ROLE alice LOGIN;
});
my $slot = 'bf_att651';
my $op = $node->background_psql('postgres', on_error_stop => 1,
	extra_params => $control ? [] : [ '-U', 'alice' ]);
my $pid = $op->query_safe(q{SELECT pg_backend_pid()});
$pid =~ s/\s+//g;
$op->query_safe($control
	? qq{SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('wal2queue-backfill:' || '$slot'))}
	: qq{SELECT pg_advisory_lock(hashtext('wal2queue-backfill:' || '$slot'))});

my $b = start_bridge($node, $r, '--slot', $slot, '--create-slot', '--tables', 'public.jobs', '--backfill',
	'--backfill-batch=10');
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge gave up on the busy lock after 30 s');
my $log = bridge_log($b);
like($log, qr/ERROR.*another bridge is backfilling slot "\Q$slot\E".*held by PID $pid\b/, 'naming the holder');
if ($control)
{
	like($log, qr/ERROR.*its last query a bridge's lock query.*PID $pid is a leftover.*pg_terminate_backend\($pid\)/,
		'a holder shaped like a leftover: the advice to end it');
}
else
{
	like($log, qr/ERROR.*held by PID $pid \(role alice, application "[^"]*", idle for \d+ s\)/,
		'the message shows the holder is not a bridge\'s lock session');
	unlike($log, qr/PID $pid is a leftover|pg_terminate_backend\($pid\)/,
		'no advice to end a session that is not a bridge\'s');
	like($log, qr/ERROR.*PID $pid is not a bridge's lock session/, 'named as not a bridge\'s');
}
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
$op->quit;
stop_redis($r);
$node->stop;
done_testing();
