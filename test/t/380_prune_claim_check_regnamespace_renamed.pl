# Attack review 12, fixed: prune() deleted a
# claim-checked row after a schema or role it names is renamed.
# What: the text of a regnamespace or regrole value (and regclass, regtype,
# regproc..., of an object in pg_catalog or one that is dropped) is the NAME
# of another catalog row, not a function of the value and its own type.
# text_shape() (sql/src/24_text_shape.sql) lists the table's columns, the
# composites' attributes and the enums' labels, nothing the reg* values
# point at, so ALTER SCHEMA ... RENAME or ALTER ROLE ... RENAME leaves
# guard_state() unchanged: no new guard record, the floor stays, and
# claim_check_floor()'s premise ("a value's output depends only on it, its
# type's catalog rows and the session settings", 30_prune.sql, THE TEXT
# MEASURED IS THE TEXT DECODED) is false for them.
# Here (--max-job-bytes 8kB, floor about 465) a row with 180 references to a
# schema with a 63-byte name (about 11.5kB of text) is delivered as a claim
# check; after ALTER SCHEMA ... RENAME TO a its text form is under 400 bytes
# and prune() without force deletes it before its worker read it.  The
# second row does the same with regrole and ALTER ROLE ... RENAME.
# Fixed: claim_check_floor() (30_prune.sql, OBJECT REFERENCES) is 0 for a
# leaf with a column of a reg* type, directly or nested (array element,
# domain base, composite attribute, range or multirange subtype): every row
# of such a table is kept without force, whatever its size.
# Checks: both claim-checked rows kept after the renames.
# W2Q_ATTACK_CONTROL=1 leaves the renames out: then both rows stay.
# Severity: high (an undelivered job, the only copy of a claim check, is
# deleted without force), needs a reg* column and a rename after the insert.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_regns');
my $r = start_redis();
my $long = 'l' x 63;
my $role = 'r' x 63;
append_only_jobs($node, 'spaces regnamespace[], owners regrole[]', "CREATE SCHEMA $long; CREATE ROLE $role;");
my $b = start_jobs_bridge($node, $r, '--max-job-bytes', '8kB');
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, spaces) VALUES ('ns', array_fill('$long'::regnamespace, ARRAY[180]));
	INSERT INTO jobs (queue, owners) VALUES ('role', array_fill('$role'::regrole, ARRAY[180]));
});
delivered_once($r, $b, [qw(ns role)], 'both delivered');
is_claim_check($r, 'ns', 'the regnamespace row is a claim check: its content is only in the table');
is_claim_check($r, 'role', 'the regrole row is a claim check too');

unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$node->safe_psql('postgres', "ALTER SCHEMA $long RENAME TO a");
	$node->safe_psql('postgres', "ALTER ROLE $role RENAME TO b");
}
# a small row written after the renames: delivered whole, kept too (floor 0)
$node->safe_psql('postgres', "INSERT INTO jobs (queue) VALUES ('small')");
ok(wait_until(sub { redis($r, 'XLEN', 'small') eq '1' }, 30), 'the small row delivered')
  or diag(bridge_log($b));
diag('floor ' . $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')")
	. ', text forms now: ' . $node->safe_psql('postgres',
	"SELECT string_agg(queue || '=' || octet_length(ROW(j.*)::text), ' ' ORDER BY id) FROM jobs j"));

my $deleted = 0;
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'jobs', 10);
	$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')");
}
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')"), '0',
	'a table with a reg* column has the claim-check floor 0');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '1',
	'the small row is kept too: every row of such a table stays without force');
# nested reg* types count too; a table without one keeps its floor
$node->safe_psql('postgres', q{
	CREATE DOMAIN regs AS regclass[];
	CREATE TYPE holder AS (n int, r regs);
	CREATE TYPE rolerange AS RANGE (subtype = regrole);
	CREATE TABLE nested_c (id int, h holder[]);
	CREATE TABLE nested_r (id int, rr rolemultirange);
	CREATE TABLE plain (id int, t text, o oid);
});
is($node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('nested_c')"), '0',
	'a regclass in a domain array in a composite array makes the floor 0');
is($node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('nested_r')"), '0',
	'a regrole in a multirange makes the floor 0');
ok($node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('plain')") > 0,
	'a table without reg* columns keeps a positive floor');
claim_check_kept($node, 'ns', 'schema was renamed');
claim_check_kept($node, 'role', 'role was renamed');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
