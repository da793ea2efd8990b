# Attack review 4, the Redis face of 258: --redis-wait with its replica
# gone spun at 0.1 s.  docs/redis.md: fewer replicas than asked within the
# timeout "is a pause: the bridge reconnects and replays"; README: transient
# conditions are retried "with capped backoff (0.1 s to 10 s)".  The Redis
# connect succeeds every time, and session.c:session_connect_sink() reset
# the sink backoff at every successful connect (not at an acknowledged
# delivery), so each WAIT timeout reconnected after 0.1 s and restarted the
# PostgreSQL stream: 27 walsender sessions in 8 s while a replica was down,
# for as long as it was down.
# Fixed: the sink backoff starts over only when the sink acknowledges a
# write (session.c:session_sink_acked), so it doubles while the replica is
# gone (each retry logged with its reason and delay), and once a replica
# acknowledges again and the jobs are delivered, the next failure waits the
# shortest delay again.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('waitspin');
my $r = start_redis();    # no replica: --redis-wait 1 can never be met
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_bridge($node, $r, '--slot', 'wt', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1', '--redis-wait', '1,100');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj VALUES (1, 'a')");
my $end1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# five retries (0.1 + 0.2 + 0.4 + 0.8 s of backoff, plus each session's
# start, slow under ASan on a loaded machine), not a fixed time
my $retry_re = qr/acknowledged the write within 100 ms; not acknowledging it, replaying; reconnecting in ([0-9.]+) s/;
wait_until(sub { my @d = bridge_log($b) =~ /$retry_re/g; @d >= 5 || !$b->{h}->pumpable }, 60);
my $sessions = () = bridge_log($b) =~ /streaming slot "wt"/g;
my @delays = bridge_log($b) =~ /$retry_re/g;
diag("$sessions stream sessions for " . scalar(@delays) . " retries; retries after " . join(', ', @delays) . ' s');
ok($b->{h}->pumpable, 'a pause, not an exit');
ok($sessions <= 8, 'the retries back off');
ok(@delays >= 4 && (grep { $delays[$_] <= $delays[$_ - 1] } 1 .. $#delays) == 0,
	'each retry is logged with its reason, and waits twice as long as the one before');

# a replica comes: the jobs are delivered, and the backoff starts over
my $replica = start_redis(args => [ '--replicaof', '127.0.0.1', $r->{port} ]);
# (Redis holds the entry since the first try: WAIT follows the write; only
# the slot tells a delivery the bridge took as acknowledged)
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end1' FROM pg_replication_slots WHERE slot_name = 'wt'") eq 't' }, 40),
	'delivered and confirmed once a replica acknowledges');
is(redis($r, 'XLEN', 'public.rj'), '1', 'once');
stop_redis($replica, 'KILL');
ok(wait_until(sub { redis($r, 'INFO', 'replication') =~ /connected_slaves:0/ }, 10), 'the replica is gone again');
my $before = () = bridge_log($b) =~ /reconnecting in/g;
$node->safe_psql('postgres', "INSERT INTO rj VALUES (2, 'b')");
ok(wait_until(sub { my $n = () = bridge_log($b) =~ /reconnecting in/g; $n > $before }, 30), 'the next failure');
my @after = bridge_log($b) =~ /reconnecting in ([0-9.]+) s/g;
is($after[$before], '0.1', 'after a delivery the first retry waits the shortest delay again');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
