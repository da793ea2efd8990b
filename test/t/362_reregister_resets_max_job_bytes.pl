# Attack review 11, fixed: registering a slot again by hand, as prune()'s own HINTs
# say ("register it again with wal2queue.register_slot('jobs', ...)", "Register
# it with SELECT wal2queue.register_slot('jobs', <its tables option>)"), resets
# the slot's max_job_bytes to NULL (64MB) while its bridge keeps reading it
# with --max-job-bytes 4kB.  register_slot() (sql/src/20_slots.sql, the
# ON CONFLICT ... SET max_job_bytes = excluded.max_job_bytes) replaces the
# recorded size by its argument, whose default is NULL; the bridge records its
# size only before START_REPLICATION (bridge/slot.c
# stream_record_max_job_bytes, the fix of test/t/342), and its running
# session is attested again at its next status turn.  claim_check_floor()
# then is that of 64MB (about 4MB of row text) and prune() without force
# deletes the rows the running session delivers as claim checks.
# Fixed: register_slot() keeps the recorded max_job_bytes of a slot it
# registers again when given none, and takes a given one only when smaller
# (lower only, as lower_max_job_bytes()): claim_check_floor() uses the
# smallest size registered for the slot since it was first registered (an
# unregister_slot() forgets it).
# Severity: high (an undelivered job is deleted without force, by following
# the product's hint).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_rereg');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my @args = ('--slot', 'jobs', '--tables', 'public.jobs', '--route-column', 'queue',
	'--max-job-bytes', '4kB', '--status-interval', '1');
my $b = start_bridge($node, $r, @args, '--create-slot');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
stop_bridge($b);
# a later run: its Redis record vouches for the session
$b = start_bridge($node, $r, @args);
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('warm', '{}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'warm') // 0) eq '1' }, 30), 'the bridge streams again')
	or diag(bridge_log($b));
is($node->safe_psql('postgres', "SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"),
	'4096', 'the registry knows max-job-bytes 4kB');

# the operator registers the slot again, as prune()'s hints say
$node->safe_psql('postgres', q{SELECT wal2queue.register_slot('jobs', 'public.jobs')})
	unless $ENV{W2Q_ATTACK_CONTROL};
diag('registered max_job_bytes now: ' . $node->safe_psql('postgres',
	"SELECT coalesce(max_job_bytes::text, 'NULL') FROM wal2queue.slots WHERE slot_name = 'jobs'"));

delivers_big_and_small($node, $r, $b);

my $deleted = prune_until_gone($node, "queue = 'small'");
diag("prune deleted $deleted rows; floor " . $node->safe_psql('postgres',
	"SELECT wal2queue.claim_check_floor('public.jobs')"));
whole_pruned_claim_check_kept($node, 'jobs', "queue = 'small'", "queue = 'big'");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
