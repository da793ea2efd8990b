# What: with --redis-wait, a failover of the Redis master (Sentinel, an
# operator's REPLICAOF, a managed Redis switching roles) while the bridge's
# WAIT is blocked makes Redis answer "UNBLOCKED force unblock from blocking
# operation, instance state changed (master -> replica?)", and the bridge
# takes it for a fatal error: exit 1, at the moment the operator needs it
# to pause and carry on (found by a random failover loop: r1 demoted and
# promoted again under load, the first swap ended the bridge).
# Why: bridge/redis_conn.c redis_error_rc() lists the pauses (LOADING, BUSY,
# OOM, MASTERDOWN, TRYAGAIN, READONLY, NOSCRIPT, NOREPLICAS, MISCONF,
# CLUSTERDOWN); UNBLOCKED is not among them, so redis_progress.c:755
# ("Redis WAIT failed: %s") returns SINK_FATAL.  README Guarantees:
# "Transient sink conditions are pauses, never exits ... READONLY".
# Expected: UNBLOCKED is a pause like READONLY (nothing acknowledged, the
# call replayed once the instance is a master again): the bridge keeps
# running and the job is delivered once after the failback.
# Severity: medium-low (no loss or duplicate; an exit on every failover
# during a WAIT, i.e. under load with --redis-wait, the very setup that
# wants to survive failovers; systemd restarts it after RestartSec).
# Fixed: UNBLOCKED is among redis_error_rc()'s pauses (bridge/redis_conn.c).
# Control: W2Q_ATTACK_CONTROL=1 leaves the roles alone (the replica is
# only held with SIGSTOP, then let go): the job arrives and the bridge
# runs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use W2QTest;

my $node = new_node('rwait');
my $r1 = start_redis();
my $r2 = start_redis(args => [ '--replicaof', '127.0.0.1', $r1->{port} ]);
ok(wait_until(sub { redis($r2, 'INFO', 'replication') =~ /master_link_status:up/ }, 20),
	'r2 replicates r1');
$node->safe_psql('postgres', q{
	CREATE TABLE wj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('rw', 'wal2queue');
});
my $b = start_streaming_bridge($node, $r1, '--slot', 'rw', '--status-interval', '1',
	'--accept-new-source', '--redis-wait', '1,10000');
$node->safe_psql('postgres', 'INSERT INTO wj VALUES (1)');
ok(wait_until(sub { redis($r1, 'XLEN', 'public.wj') eq '1' }, 30), 'job 1 delivered (WAIT answered)');

# the replica stops acknowledging: the next WAIT blocks (up to 10 s)
$r2->{h}->signal('STOP');
$node->safe_psql('postgres', 'INSERT INTO wj VALUES (2)');
ok(wait_until(sub { redis($r1, 'CLIENT', 'LIST') =~ /cmd=wait/ }, 10), 'the bridge waits in WAIT');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	# a failover and back: r1 is a replica for a moment, then master again
	redis($r1, 'REPLICAOF', '127.0.0.1', free_port());
	usleep(300_000);
	redis($r1, 'REPLICAOF', 'NO', 'ONE');
}
$r2->{h}->signal('CONT');
redis($r2, 'REPLICAOF', '127.0.0.1', $r1->{port});
sleep 2;
ok($b->{h}->pumpable, 'the bridge is still running after the failover')
  or diag(bridge_log($b));
ok(wait_until(sub { redis($r1, 'XLEN', 'public.wj') eq '2' }, 30), 'job 2 is delivered');
is(scalar(grep { $_->[1]{id} eq '2' } @{ stream_entries($r1, 'public.wj') }), 1, 'job 2 once');
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r2);
stop_redis($r1);
$node->stop;
done_testing();
