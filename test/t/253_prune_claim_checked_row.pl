# Attack review 4: prune() deletes the row behind a claim check.  A row larger
# than max-job-bytes is delivered as a claim check (plugin/FORMAT.md, "Claim
# checks"): "a worker that sees wal2queue_claim_check reads the row from
# table by key itself" -- the job's content exists only in the table.  For
# prune() the claim check counts as the row's delivery
# (sql/src/30_prune.sql: the rule looks at xmin and the slots' horizons only),
# so the next prune, typically scheduled every few minutes, deletes the row
# before any worker could fetch it: the job's content is gone, although no
# slot delivered it.  README: "prune() never deletes a row no slot delivered".
# Expected: a claim-checked row survives prune() (without force).
#
# Fixed: the bridge registers its slot with its --max-job-bytes
# (wal2queue.slots.max_job_bytes), and prune() keeps, without force, every
# row whose text form is at least wal2queue.claim_check_floor() -- a size
# below which no row can have been a claim check (sql/src/30_prune.sql,
# point 7).  Smaller rows are pruned as before; force deletes the big one.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $b = start_registered_bridge($node, $r, slot => 'jobs',
	args => [ '--tables', 'public.jobs', '--route-column', 'queue', '--max-job-bytes', '4kB' ]);

delivers_big_and_small($node, $r, $b);
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
is($node->safe_psql('postgres', "SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"),
	'4096', 'the slot is registered with its max-job-bytes');
my $floor = $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')");
ok($floor > 0 && $floor < 4096, "the claim-check floor is a size below max-job-bytes ($floor)");

my $deleted = prune_until($node, 2, tries => 6);
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'big'"), '1',
	'the row behind the claim check is still there for its worker');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '0',
	'the small row, delivered whole, is pruned');
is($node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')"), '0',
	'prune keeps the claim-checked row at every call');
is($node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs', force => true)"), '1',
	'force deletes it (its worker read it)');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
