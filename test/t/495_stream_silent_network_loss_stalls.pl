# What: the network path to PostgreSQL goes silent without a FIN or RST
# (a stateful firewall or NAT that lost its connection table, a cloud
# load balancer's idle cut, a partition): the walsender times out
# (wal_sender_timeout) and frees the slot, but the bridge never notices
# that the server stopped talking.  It keeps the dead connection and
# reads nothing, forever here (on a real path until the kernel gives up
# retransmitting its status updates, ~15 min with tcp_retries2 = 15),
# while PostgreSQL is up and reachable on a new connection, and the
# metrics keep saying streaming (bridge.c update_metrics: streaming =
# stream_up).  Jobs committed meanwhile wait.
# Why: bridge/stream.c has no receive timeout on the replication
# connection (PostgreSQL's walreceiver has wal_receiver_timeout;
# a walsender sends a keepalive at least every wal_sender_timeout / 2)
# and sets no TCP keepalives or tcp_user_timeout on it (only
# backfill_lock.c's lock connection has keepalives).
# Expected: a stream from which nothing (no 'w', no 'k') arrived for a
# bounded time (e.g. a minute, or a multiple of the status interval once
# the server's keepalives are expected) is closed and opened again: the
# job committed after the loss is delivered within that bound.
# Severity: medium (delivery stalls for minutes to forever on a silent
# network loss; the metrics say all is well).
# Fixed: --recv-timeout (default 60 s; bridge.c stream_silent()): after
# that long without a message from the server, a status update asks for a
# reply; none within as long again, and the stream is dropped and opened
# again, as PostgreSQL's walreceiver does with wal_receiver_timeout.  Only
# while the bridge reads; each such drop in a row doubles the wait, so a
# walsender busy for long is never cut forever.  Here --recv-timeout 2; an
# idle stream answers the pings and is not dropped.
# Control: W2Q_ATTACK_CONTROL=1 closes the old connection (an RST-like
# loss) instead of blackholing it: the bridge reconnects and delivers.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('silent', conf => "wal_sender_timeout = 4s\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE nj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('ns', 'wal2queue');
});

my ($pport, $cut, $pid) = start_blackhole_proxy($node, close_on_cut => $ENV{W2Q_ATTACK_CONTROL});

my $connstr = "host=127.0.0.1 port=$pport dbname=postgres";
my $b = start_streaming_bridge($node, $r, '-d', $connstr, '--slot', 'ns', '--status-interval', '1',
	'--accept-new-source', '--recv-timeout', '2');
$node->safe_psql('postgres', 'INSERT INTO nj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.nj') eq '1' }, 30), 'job 1 delivered through the proxy');
sleep 6;
unlike(bridge_log($b), qr/taken for lost/, 'an idle stream answers the pings: it is not dropped');

my $ws = $node->safe_psql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'ns'");
open(my $fh, '>', $cut) or die;
close $fh;
# the slot is free (or, control: taken again 0.1 s later by the reconnect)
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT active_pid IS DISTINCT FROM $ws FROM pg_replication_slots WHERE slot_name = 'ns'") eq 't' }, 30),
	'the walsender timed out and freed the slot');
$node->safe_psql('postgres', 'INSERT INTO nj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.nj') eq '2' }, 60),
	'job 2, committed after the silent loss, is delivered within 60 s')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
like(bridge_log($b), qr/no message from the server for \d+ s, nor an answer to a status update that asked for one: the connection is taken for lost; reconnecting/,
	'the silence is named') unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b, 'KILL');
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop;
done_testing();
