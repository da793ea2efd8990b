# What: the bridge's walsender stops answering for longer than
# --recv-timeout * 2 + 30 s and cannot be ended at once (here SIGSTOP: a
# debugger attached to it, a process frozen by a cgroup freezer or a
# stalled disk; any walsender that does not act on SIGTERM at once).  The
# bridge drops the session, ends "its own previous walsender" (the
# pg_terminate_backend is accepted, the process is not gone yet), and from
# the next attempt on takes the slot's holder for ANOTHER bridge: 30 s
# later it exits 1 with "is another bridge using it? (--standby waits for
# it)" -- while the slot is held by its own walsender, which README says
# is "ended, not taken for another bridge".  Before --recv-timeout the
# bridge waited and went on when the walsender resumed.
# Why: bridge/stream.c stream_end_own_walsender() sets own_pid = 0 after
# one pg_terminate_backend, whether or not the backend is gone; the next
# stream_open() finds the slot busy with own_pid 0, and bridge/session.c
# slot_busy() gives up after BUSY_GRACE_US (30 s) without --standby.
# Expected: while the slot's active_pid is still this bridge's own last
# walsender, the bridge keeps waiting for it (it was signalled), and
# streams on once it is gone: job 2 delivered after the walsender resumes,
# the bridge running.
# Severity: low -- an exit 1 with a misleading cause (systemd restarts
# it; the new process, not knowing the pid, exits again every 30 s until
# the walsender goes), no loss or duplicate.
# Fixed: bridge/stream.c stream_end_own_walsender() ends the pid only as
# the slot's active_pid (one statement: a reused pid is never ended), keeps
# it while it holds the slot, ends it again at every attempt and says what
# it waits for; bridge/session.c slot_busy() does not count that wait
# toward the 30 s given to another bridge.
# Control (W2Q_ATTACK_CONTROL=1): --recv-timeout 0 (as before it): the
# bridge waits on its connection and streams on once the walsender resumes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('stop504');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE sj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('st', 'wal2queue');
});
my $b = start_streaming_bridge($node, $r, '--slot', 'st', '--status-interval', '1',
	'--accept-new-source', '--recv-timeout', $control ? '0' : '1');
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.sj') eq '1' }, 30), 'job 1 delivered');
my $ws = $node->safe_psql('postgres', q{SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'st'});
ok($ws =~ /^\d+$/, "the walsender's pid ($ws)");

kill 'STOP', $ws;
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (2)');
sleep 40;
kill 'CONT', $ws;
ok(wait_until(sub { redis($r, 'XLEN', 'public.sj') eq '2' }, 30), 'job 2 delivered once the walsender resumed')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
ok($b->{h}->pumpable, 'the bridge is still running')
  or diag(join("\n", grep { /ERROR|WARNING|ended/ } split /\n/, bridge_log($b)));
unlike(bridge_log($b), qr/another bridge/, 'its own walsender is never taken for another bridge');
ok($control || bridge_log($b) =~ /waiting for this bridge's own previous walsender \(pid $ws\)/,
	'the bridge says which walsender it waits for') or diag(bridge_log($b));
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
