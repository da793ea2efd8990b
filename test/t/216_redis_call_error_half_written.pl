# Found by the attack review (fixed): a Redis error raised inside the deliver function
# after some of its XADDs leaves them written (Redis functions do not roll
# back) while the progress record is not advanced, so a replay of the
# transaction writes those jobs again (invariant 2: "replaying anything
# already delivered changes nothing a consumer sees").  A route value naming
# a stream whose last ID is the largest possible one (XADD * then fails with
# "The stream has exhausted the last possible ID") is enough: the bridge
# stops (naming no job), the operator repairs the stream and restarts it, and
# the job routed to 'emails' is there twice.  Expected: once (the call checks
# what can fail before it writes anything, or the job goes to its table's
# stream as in TAP 207).  Fixed: typecheck() in bridge/redis_progress.c
# refuses, before the first write, a stream whose last ID leaves no room for
# the call's entries (verdict FULL), naming the stream, the commit LSN and
# the job's seq.  The second part: a stream one ID short of the maximum takes
# one XADD and fails the second; the call must write neither.
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
like(bridge_log($b), qr/cannot write job 1 of the transaction committed at [0-9A-F]+\/[0-9A-F]+ to Redis stream "full": its last entry ID is at the largest/,
	'the error names the job, its commit LSN and the stream');
is(redis($r, 'XLEN', 'emails'), '0', 'nothing of the refused call was written');
# the operator repairs the stream and restarts the bridge: the transaction is replayed
redis($r, 'DEL', 'full');
$b = start_bridge($node, $r, '--slot', 'a', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'full') eq '1' }), 'the replayed transaction is delivered');
is(redis($r, 'XLEN', 'emails'), '1', 'the job routed to emails is in its stream once, not twice');

# one ID of room left: a call with two jobs for that stream writes neither
redis($r, 'XADD', 'near', '18446744073709551615-18446744073709551614', 'f', 'v');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (3, 'near'), (4, 'near')});
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge stops before a call that would fill the stream half-way');
like(bridge_log($b), qr/Redis stream "near"/, 'the error names the stream');
is(redis($r, 'XLEN', 'near'), '1', 'no job was added to the nearly full stream');
redis($r, 'DEL', 'near');
$b = start_bridge($node, $r, '--slot', 'a', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'near') eq '2' }), 'after the repair both jobs are delivered once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
