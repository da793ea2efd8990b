# What: the bridge drops its replication stream (here: Redis lost the
# connection, so the session replays) while the path to PostgreSQL has
# gone silent (the FIN never reaches the server: a stateful firewall that
# lost its table, a partition).  The old walsender keeps the slot until
# wal_sender_timeout (default 60 s); the bridge reconnects on a working
# path at once, finds its own previous walsender holding the slot and,
# after 30 s, exits 1 with "is another bridge using it? (--standby waits
# for it)" -- although no other bridge exists and the slot frees itself
# half a minute later.
# Why: bridge/session.c slot_busy(): without --standby a busy slot is
# retried for BUSY_GRACE_US (30 s), shorter than the server's default
# wal_sender_timeout (60 s), the bound after which a walsender whose
# client vanished without a word lets go; the bridge does not tell its
# own previous walsender (PQbackendPID of the connection it dropped: the
# slot's active_pid) from another bridge's, nor terminates it.
# Expected: a slot held by the bridge's own previous walsender is waited
# for (at least wal_sender_timeout, or that walsender is terminated):
# the bridge keeps running and job 2 is delivered.
# Severity: low-medium (an exit 1 and a restart by the unit, no loss; a
# false "another bridge" diagnosis on a network incident).
# Fixed: bridge/stream.c stream_end_own_walsender(): a busy slot (or
# --create-slot lock) held by the walsender of this process's last stream
# (own_pid, kept across opens) is ended with pg_terminate_backend (a role
# may end its own backends), with a WARNING saying so.
# Control: W2Q_ATTACK_CONTROL=1 closes the old connection (the server
# sees the client go): the slot is free at once, job 2 is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('silent', conf => "wal_sender_timeout = 60s\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE nj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('ns', 'wal2queue');
});

my ($pport, $cut, $pid) = start_blackhole_proxy($node, close_on_cut => $ENV{W2Q_ATTACK_CONTROL});

my $connstr = "host=127.0.0.1 port=$pport dbname=postgres";
my $b = start_streaming_bridge($node, $r, '-d', $connstr, '--slot', 'ns', '--status-interval', '1',
	'--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO nj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.nj') eq '1' }, 30), 'job 1 delivered through the proxy');

open(my $fh, '>', $cut) or die;
close $fh;
sleep 1;
# the sink fails: the bridge drops the stream and replays from the slot
redis($r, 'CLIENT', 'KILL', 'TYPE', 'normal');
$node->safe_psql('postgres', 'INSERT INTO nj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.nj') eq '2' }, 75),
	'job 2 is delivered once the old walsender let go of the slot')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
ok($b->{h}->pumpable, 'the bridge is still running');
like(bridge_log($b), qr/ended this bridge's own previous walsender \(pid \d+\), which still held replication slot "ns"/,
	'it ended its own lingering walsender instead of waiting for wal_sender_timeout')
  unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop;
done_testing();
