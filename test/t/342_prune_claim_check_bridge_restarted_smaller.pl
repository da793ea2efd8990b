# Attack review 9: prune() deletes a claim-checked row after the bridge was
# restarted on its slot with a smaller --max-job-bytes.  The registry's
# max_job_bytes (claim_check_floor(), sql/src/30_prune.sql point 7) is
# written only by register_slot(), which the bridge calls when it CREATES
# the slot (bridge/slot.c); a later run of the same slot with another
# --max-job-bytes (the operator lowers it after a stall, or the slot was
# created without it) is neither registered nor refused.  The floor stays
# that of 64MB (about 5MB of row text) while the plugin makes claim checks
# of every row over 1kB: prune() without force deletes them.  docs/extension.md
# "What the rule cannot see" names a registration that does not match the
# slot's tables option or publication only.
# Expected: a claim-checked row survives prune() (without force).
# Fixed: before every START_REPLICATION the bridge records a smaller
# --max-job-bytes in the registry (wal2queue.lower_max_job_bytes(), never
# raising it), so the claim-check floor follows the session.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_restart');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $b = start_registered_bridge($node, $r, slot => 'jobs',
	args => [ '--tables', 'public.jobs', '--route-column', 'queue' ],
	name => 'the bridge registered its slot (default max-job-bytes)');
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
stop_bridge($b);

$b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs',
	'--route-column', 'queue', '--max-job-bytes', '4kB', '--status-interval', '1');
delivers_big_and_small($node, $r, $b);
sleep 2;
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
is($node->safe_psql('postgres', "SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"),
	'4096', 'the restart recorded its smaller max-job-bytes (lower_max_job_bytes)');
diag('registered max_job_bytes: ' . $node->safe_psql('postgres',
	"SELECT coalesce(max_job_bytes::text, 'NULL') FROM wal2queue.slots WHERE slot_name = 'jobs'")
	. ', claim-check floor: ' . $node->safe_psql('postgres',
	"SELECT wal2queue.claim_check_floor('public.jobs')"));

my $deleted = prune_until($node, 2, tries => 6);
diag("prune deleted $deleted rows");
whole_pruned_claim_check_kept($node, 'jobs', "queue = 'small'", "queue = 'big'");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
