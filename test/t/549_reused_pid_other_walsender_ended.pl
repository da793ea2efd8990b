# What: the bridge ends "its own previous walsender" by pid: the pid its
# last session's connection had (PQbackendPID), checked only against the
# slot's active_pid, the walsender backend type and the role.  A pid is
# not an identity across a server restart: after a restart in a fresh pid
# namespace (a container restarted: pids count from 1 again, the same
# startup forks the same pids) another client of the same role -- here
# pg_recvlogical, an operator's look at the slot; the --standby partner in
# production -- takes the slot with a walsender whose pid is the bridge's
# old one, and the reconnecting bridge terminates it ("ended this bridge's
# own previous walsender") and takes the slot.  Attack 504's fix says "a
# pid reused by another backend (a restarted container ...) is never
# ended": it is, when the reused pid holds the slot.
# Why: bridge/stream.c stream_end_own_walsender(): s->own_pid outlives the
# server it was read from (stream_open() resets sysid, timeline and
# positions but not own_pid); nothing ties the pid to this bridge's
# connection (backend_start, the client address and port, an
# application_name carrying a per-process token, or the postmaster's
# start time from pg_postmaster_start_time()).
# Expected: the bridge never terminates a walsender that is not its own:
# own_pid is forgotten when the server restarted (pg_postmaster_start_time
# differs) or the connection is identified by more than its pid; here
# pg_recvlogical keeps the slot and the bridge waits (slot busy).
# Severity: medium-low -- needs a pid reuse (likely with containers: small,
# deterministic pids); the --standby partner (or any consumer) is cut off
# and the slot changes hands behind the operator's back.
# Fixed: bridge/stream.c stream_end_own_walsender() ends own_pid only where
# the server's start, EXTRACT(epoch FROM pg_postmaster_start_time()) as
# text, is the one own_pid was read on (s->own_epoch, learned in the
# SELECTs the open already runs: slot.c slot_lock_name() and slot_check());
# a pid whose server start is unknown is never ended.
# Control (W2Q_ATTACK_CONTROL=1): pg_recvlogical's walsender gets the next
# pid after the bridge's old one: the bridge leaves it alone and waits.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($unshare_ok) = run_command([ 'unshare', '--user', '--map-current-user', '--pid', '--fork', 'true' ]);
plan skip_all => 'no unprivileged user and pid namespaces (unshare)' unless defined $unshare_ok;

my $node = new_node('pidns549', conf => "autovacuum = off\n");
$node->stop;
my $pglog = "$PostgreSQL::Test::Utils::tmp_check/pidns549_postmaster.log";
my $pm;

# the postmaster as pid 1 of a fresh pid namespace (a container's start)
sub pm_start
{
	$pm = IPC::Run::start([ 'unshare', '--user', '--map-current-user', '--pid', '--fork',
			'postgres', '-D', $node->data_dir ], '>>', $pglog, '2>&1');
	wait_until(sub { my ($rc) = $node->psql('postgres', 'SELECT 1'); $rc == 0 }, 60)
	  or die 'the postmaster in its pid namespace did not start: ' . slurp_file($pglog);
}

# the postmaster's pid as the host sees it: unshare's child
sub pm_hostpid
{
	my $u = $pm->{KIDS}[0]{PID};
	my $c = slurp_file("/proc/$u/task/$u/children");
	return (split ' ', $c)[0];
}

sub pm_stop
{
	my ($sig) = @_;
	kill $sig, pm_hostpid();
	$pm->finish;
}

pm_start();
$node->safe_psql('postgres', q{
	CREATE TABLE pj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('pj', 'wal2queue');
	CHECKPOINT;
});
my $r = start_redis();

# a proxy to the node; while $cut exists, existing connections freeze and
# new ones are held unanswered (the bridge cannot reach the server)
my ($pport, $cut, $proxy) = start_blackhole_proxy($node, hold_new => 1, close_on_cut => 0);

my $b = start_streaming_bridge($node, $r, '-d', "host=127.0.0.1 port=$pport dbname=postgres",
	'--slot', 'pj', '--status-interval', '1', '--accept-new-source', '--recv-timeout', '2');
$node->safe_psql('postgres', 'INSERT INTO pj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.pj') eq '1' }, 30), 'job 1 delivered') or diag(bridge_log($b));
my $x = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pj'");
note("the bridge's walsender: pid $x (in the namespace)");

# the bridge loses the server; the server restarts in a fresh pid namespace
open(my $fh, '>', $cut) or die;
close $fh;
pm_stop('QUIT');
pm_start();
# pids count again: connect until the next fork gets the bridge's old pid
# (control: the one after it), then pg_recvlogical takes the slot; a fork
# of the server's own in between (a restart's late worker) spoils it: the
# server is restarted and the count tried again
my $want = $control ? $x : $x - 1;
my ($recv, $y, $rerr);
for my $try (1 .. 6)
{
	wait_until(sub { $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'") eq '1' }, 20);
	my $got = 0;
	$got = $node->safe_psql('postgres', 'SELECT pg_backend_pid()') while $got < $want;
	$rerr = '';
	$recv = IPC::Run::start([ 'pg_recvlogical', '-d', $node->connstr('postgres'), '--slot', 'pj', '--start',
			'-f', '/dev/null', '--no-loop' ], '>', \my $rout, '2>', \$rerr);
	wait_until(sub { $node->safe_psql('postgres',
		"SELECT active_pid IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'pj'") eq 't' }, 20);
	$y = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pj'");
	last if $got == $want && $y ne '' && $y == $want + 1;
	note("try $try: backends reached $got, pg_recvlogical's walsender $y; again");
	$recv->kill_kill;
	pm_stop('QUIT');
	pm_start();
}
ok($control ? $y == $x + 1 : $y == $x, "pg_recvlogical holds the slot, its walsender has pid $y (the bridge's was $x)");

# the path is back: the bridge reconnects and finds the slot busy
unlink $cut;
ok(wait_until(sub { bridge_log($b) =~ /is active for PID|busy|ended this bridge|waiting/ }, 40),
	'the bridge reconnects and finds the slot busy') or diag(bridge_log($b));
sleep 5;
my $holder = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pj'");
is($holder, $y, 'pg_recvlogical still holds the slot (its walsender was not terminated)')
  or diag("pg_recvlogical: $rerr");
unlike(bridge_log($b), qr/ended this bridge's own previous walsender/, 'the bridge ended no walsender')
  or diag(join("\n", grep { /WARNING|LOG/ } split /\n/, bridge_log($b)));
stop_bridge($b);
$recv->kill_kill if $recv->pumpable;
stop_blackhole_proxy($proxy);
stop_redis($r);
pm_stop('INT');
done_testing();
