# Attack review 4: Redis at maxclients makes the bridge exit.  A Redis that
# has as many clients as maxclients answers a new connection
# "-ERR max number of clients reached" and closes it: a transient condition
# (a worker fleet reconnecting, a leak in another client), as "too many
# connections" is for PostgreSQL.  redis_conn.c:redis_error_rc() knows only
# the error prefixes LOADING, BUSY, OOM, ... as pauses; this "ERR ..." reply
# to the connect-time command is SINK_FATAL, so a bridge that reconnects at
# that moment (here: after CLIENT KILL) exits 1 ("Redis is not ready: ERR
# max number of clients reached").  README: "Transient sink conditions are
# pauses, never exits"; "Transient conditions ... are retried with capped
# backoff".  Expected: the bridge waits and delivers once a client left.
# Fixed: redis_conn.c treats "ERR max number of clients reached" as a pause
# (at connect, before AUTH's own error handling too), logged as a warning
# naming it, and reconnects with backoff.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maxclients');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_streaming_bridge($node, $r, '--slot', 'mc', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj VALUES (1, 'a')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '1' }, 30), 'first job delivered');

# one other client fills Redis up to maxclients, and the bridge's connection drops
my ($in, $out) = ('', '');
my $hold = IPC::Run::start([ 'redis-cli', '-p', $r->{port} ], \$in, \$out, '2>&1');
$in .= "CONFIG SET maxclients 1\n";
$hold->pump until $out =~ /OK/;
$out = '';
$in .= "CLIENT KILL TYPE normal SKIPME yes\n";
$hold->pump until $out =~ /\d/;
$node->safe_psql('postgres', "INSERT INTO rj VALUES (2, 'b')");
sleep 4;
my $runs = $b->{h}->pumpable;
diag("bridge " . ($runs ? 'runs' : 'stopped') . ": "
	. join(' | ', grep { /ERROR|WARNING/ } split /\n/, bridge_log($b)));
ok($runs, 'Redis at maxclients: the bridge waits instead of exiting');
like(bridge_log($b), qr/WARNING.*Redis refuses new connections: ERR max number of clients reached.*reconnecting in/,
	'the warning names the cause');
$in .= "CONFIG SET maxclients 10000\n";
$hold->pump until $out =~ /OK/;
$hold->kill_kill;
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '2' }, 30), 'and delivers once Redis takes clients again');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
