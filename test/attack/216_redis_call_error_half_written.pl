# ATTACK (fails on main): a Redis error raised inside the deliver function
# after some of its XADDs leaves them written (Redis functions do not roll
# back) while the progress record is not advanced, so a replay of the
# transaction writes those jobs again (invariant 2: "replaying anything
# already delivered changes nothing a consumer sees").  A route value naming
# a stream whose last ID is the largest possible one (XADD * then fails with
# "The stream has exhausted the last possible ID") is enough: the bridge
# stops (naming no job), the operator repairs the stream and restarts it, and
# the job routed to 'emails' is there twice.  Expected: once (the call checks
# what can fail before it writes anything, or the job goes to its table's
# stream as in TAP 207).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('halfwritten');
my $r = start_redis();
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY, queue text)});
redis($r, 'XADD', 'full', '18446744073709551615-18446744073709551615', 'f', 'v');
my $b = start_bridge($node, $r, '--slot', 'a', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'a' AND active}) eq '1' }),
	'the bridge streams');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'emails'), (2, 'full')});
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge stops at the failed call');
note(bridge_log($b));
# the operator repairs the stream and restarts the bridge: the transaction is replayed
redis($r, 'DEL', 'full');
$b = start_bridge($node, $r, '--slot', 'a', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'full') eq '1' }), 'the replayed transaction is delivered');
is(redis($r, 'XLEN', 'emails'), '1', 'the job routed to emails is in its stream once, not twice');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
