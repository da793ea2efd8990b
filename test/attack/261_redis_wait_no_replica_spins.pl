# Attack review 4, the Redis face of 258: --redis-wait with its replica
# gone spins at 0.1 s.  docs/redis.md: fewer replicas than asked within the
# timeout "is a pause: the bridge reconnects and replays"; README: transient
# conditions are retried "with capped backoff (0.1 s to 10 s)".  The Redis
# connect succeeds every time, and session.c:session_connect_sink() resets
# the sink backoff at every successful connect (not at an acknowledged
# delivery), so each WAIT timeout reconnects after 0.1 s and restarts the
# PostgreSQL stream: 27 walsender sessions in 8 s while a replica is down,
# for as long as it is down.  Expected: the backoff grows (at most about 8
# sessions in 8 s: 0.1 + 0.2 + 0.4 + ... s, plus the WAIT timeouts).
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
sleep 8;
my $sessions = () = bridge_log($b) =~ /streaming slot "wt"/g;
my $waits = () = bridge_log($b) =~ /acknowledged the write within 100 ms/g;
diag("$sessions stream sessions, $waits WAIT timeouts in 8 s");
ok($b->{h}->pumpable, 'a pause, not an exit');
ok($sessions <= 8, 'the retries back off');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
