# What: FUNCTION KILL (what Redis itself tells every client to run when it
# answers BUSY: "You can only call SCRIPT KILL, FUNCTION KILL or SHUTDOWN
# NOSAVE") that lands while the deliver function is still in its read-only
# checks (typecheck of the call's keys, before the first write; Redis kills
# only a function that wrote nothing) makes the bridge exit 1 instead of
# pausing and replaying: nothing was written, the call can simply be sent
# again.  An operator clearing a busy Redis stops the bridge.
# Why: bridge/redis_conn.c redis_error_rc() treats "ERR Script killed by
# user with FUNCTION KILL..." (an ERR, not in its list of pauses) as fatal;
# issue 10: "BUSY, LOADING, OOM, MASTERDOWN and a lost connection are
# pauses: back off, keep answering the walsender, resume — never exit".
# Expected: a killed deliver call is a pause (retry, replay); the bridge
# keeps running and delivers every job once.
# Fixed: bridge/redis_conn.c redis_error_rc(): a reply saying the function
# was killed by user is a pause (SINK_RETRY), the call is replayed.
# Severity: low-medium (availability: exit 1 on an operator's routine
# remedy; no loss, no duplicate).
# Control: W2Q_ATTACK_CONTROL=1 runs the same killer loop with SCRIPT KILL,
# which does not kill functions: the bridge delivers.
use strict;
use warnings;
use File::Basename qw(dirname);
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib dirname(__FILE__) . '/../faults';
use W2QResp;
use W2QTest;

my $node = new_node('fkill');
my $r = start_redis(args => [ '--busy-reply-threshold', '1' ]);
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, route text);
	SELECT pg_create_logical_replication_slot('fk', 'wal2queue');
});
my $b = start_bridge($node, $r, '--slot', 'fk', '--accept-new-source', '--route-column', 'route',
	'--status-interval', '1');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (0, 'q:0')});
ok(wait_until(sub { redis($r, 'XLEN', 'q:0') eq '1' }, 30), 'first job delivered');

# a client that kills whatever function runs, again and again
my $pid = fork();
if ($pid == 0)
{
	my $c = W2QResp->new('127.0.0.1', $r->{port});
	my @cmd = $ENV{W2Q_ATTACK_CONTROL} ? ('SCRIPT', 'KILL') : ('FUNCTION', 'KILL');
	while (1) { $c->command(@cmd); usleep(200); }
}
# transactions of 20,000 jobs, each to its own stream: the call checks
# 20,000 keys before its first write
my $rounds = 5;
for my $i (1 .. $rounds)
{
	my $lo = $i * 100000;
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'q:' || g FROM generate_series($lo + 1, $lo + 20000) g");
	last unless $b->{h}->pumpable;
}
# the killer keeps at it for 15 s: every call is killed, the bridge pauses
sleep 15;
my $alive = $b->{h}->pumpable;
kill 'KILL', $pid;
waitpid($pid, 0);
my $last = 'q:' . ($rounds * 100000 + 20000);
wait_until(sub { !$b->{h}->pumpable || redis($r, 'EXISTS', $last) eq '1' }, 90);
my $log = bridge_log($b);
my ($err) = $log =~ /(ERROR: [^\n]*)/;
diag('bridge ' . ($b->{h}->pumpable ? 'runs' : 'stopped: ' . ($err // '?')));
ok($alive && $b->{h}->pumpable, 'the bridge keeps running (a killed call is a pause)');
ok(redis($r, 'EXISTS', $last) eq '1', 'and delivers every transaction once the killing stops');
my $n = 0;
$n += redis($r, 'XLEN', "q:$_") for map { my $lo = $_ * 100000; ($lo + 1, $lo + 10000, $lo + 20000) } 1 .. $rounds;
is($n, 3 * $rounds, 'sampled streams hold their job once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
