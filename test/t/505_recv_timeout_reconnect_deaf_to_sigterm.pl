# What: the path to PostgreSQL goes silent for good (a partition, a
# firewall that drops everything, a proxy whose server side died: new TCP
# connections are accepted and never answered).  --recv-timeout notices
# the silence and reconnects -- and the reconnect waits for the server's
# answer without end (no connect_timeout in -d, as in every example of
# README), in a loop that does not look at signals: SIGTERM (systemctl
# stop, a deploy) is ignored, the bridge never exits, until SIGKILL.
# Before --recv-timeout the bridge sat in its main loop on the silent
# connection and SIGTERM stopped it (exit 0).
# Why: bridge/pgerror.c poll_connection(): without connect_timeout there
# is no deadline, and poll()'s EINTR is retried without checking
# bridge_stop_requested; bridge/bridge.c stream_silent() now leads the
# bridge into it on every silent path.
# Expected: SIGTERM ends the bridge within a few seconds (exit 0 or 1, it
# has nothing in flight), also while it reconnects; the reconnect itself
# bounded (a default connect timeout, as for the status ping).
# Severity: medium-low -- systemd waits TimeoutStopSec (90 s) and kills it
# with SIGKILL; a bridge stuck in the reconnect serves nothing meanwhile
# (no loss: nothing is confirmed).
# Fixed: bridge/pgerror.c poll_connection(): without connect_timeout a
# connect gives up after --recv-timeout (at least 10 s; 60 s with
# --recv-timeout 0) and looks at the stop flag every 200 ms (main.c passes
# both through pgerror_set_connect_limits()).
# Control (W2Q_ATTACK_CONTROL=1): --recv-timeout 0 (as before it): the
# same silent path, the bridge sits on its connection and SIGTERM ends it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('deaf505');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE dj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('dj', 'wal2queue');
});

# a TCP proxy to the node: once $cut exists, every connection (old and new)
# is kept open and never served again
my ($pport, $cut, $pid) = start_blackhole_proxy($node, hold_new => 1, close_on_cut => 0);

my $b = start_streaming_bridge($node, $r, '-d', "host=127.0.0.1 port=$pport dbname=postgres", '--slot', 'dj',
	'--status-interval', '1', '--accept-new-source', '--recv-timeout', $control ? '0' : '1');
$node->safe_psql('postgres', 'INSERT INTO dj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.dj') eq '1' }, 30), 'job 1 delivered through the proxy');
open(my $fh, '>', $cut) or die;
close $fh;
ok($control || wait_until(sub { bridge_log($b) =~ /taken for lost/ }, 20), 'the silence is noticed')
  or diag(bridge_log($b));
ok($control || wait_until(sub { bridge_log($b) =~ /could not connect to PostgreSQL: timeout expired/ }, 30),
	'the reconnect to the silent path gives up (default bound)') or diag(bridge_log($b));
sleep 3;
my ($gone, $took) = sigterm_bridge($b);
ok($gone, sprintf('SIGTERM ends the bridge (%s after %.1f s)', $gone ? 'gone' : 'still running', $took))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
ok($gone && $took < 10, 'promptly (within 10 s; a stream still up is finished first, up to 7 s)');
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop;
done_testing();
