# What: 380's fix (claim_check_floor() is 0 for a leaf with a reg* column)
# lists the reg* types only; aclitem prints role NAMES too (grantee and
# grantor, "alice=r/bob"; aclitemout() looks them up), so ALTER ROLE ...
# RENAME shrinks the text of an aclitem[] value without touching the
# table, its types or its guard state.  A row delivered as a claim check
# (65 items naming two roles of 63 characters: about 8.5kB, over
# --max-job-bytes 8kB) is 401 bytes after both roles are renamed (floor 466),
# under the floor, and prune() without force deletes it before its worker
# read it.
# Why: sql/src/30_prune.sql claim_check_floor(): "WHERE ty.oid IN
# ('regclass'::regtype, ..., 'regcollation'::regtype)" -- no 'aclitem'; the
# premise "a value's output depends only on it, its type's catalog rows and
# the session settings" (THE TEXT MEASURED IS THE TEXT DECODED) is false
# for aclitem as for reg*.
# Expected: a leaf with an aclitem column (directly or nested) has the
# floor 0, as one with a reg* column: the claim-checked row is kept.
# Fixed: claim_check_floor() is 0 for a leaf with an aclitem column,
# directly or nested, as for the reg* types.
# Severity: medium (an undelivered job, the only copy of a claim check,
# deleted without force; needs an aclitem column in a job table, rare).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_aclitem');
my $r = start_redis();
my $grantee = 'r' x 63;
my $grantor = 'g' x 63;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE $grantee;
	CREATE ROLE $grantor;
	CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, acl aclitem[]);
	SELECT wal2queue.append_only('public.jobs');
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--max-job-bytes', '8kB', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, acl) VALUES ('acl', array_fill('$grantee=r/$grantor'::aclitem, ARRAY[65]));
	INSERT INTO jobs (queue) VALUES ('small');
});
ok(wait_until(sub { redis($r, 'XLEN', 'acl') eq '1' && redis($r, 'XLEN', 'small') eq '1' }, 30),
	'both delivered') or diag(bridge_log($b));
is(stream_entries($r, 'acl')->[0][1]{wal2queue_claim_check}, 't',
	'the aclitem row is a claim check: its content is only in the table');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$node->safe_psql('postgres', "ALTER ROLE $grantee RENAME TO b");
	$node->safe_psql('postgres', "ALTER ROLE $grantor RENAME TO c");
}
is($node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')"), '0',
	'a table with an aclitem column has the claim-check floor 0');
diag('text forms now: ' . $node->safe_psql('postgres',
	"SELECT string_agg(queue || '=' || octet_length(ROW(j.*)::text), ' ' ORDER BY id) FROM jobs j"));
prune_until_gone($node, "queue = 'acl'", 3);
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'acl'"), '1',
	'the claim-checked row whose roles were renamed is still there for its worker');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '1',
	'so is the small row: prune() keeps every row of such a table without force');
is($node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs', force => true)"), '2',
	'with force both go (they were delivered)');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
