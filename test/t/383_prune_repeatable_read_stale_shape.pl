# Attack review 12, fixed: prune() in a
# REPEATABLE READ transaction whose snapshot predates an ALTER TYPE ...
# RENAME VALUE (or an ALTER TABLE ... DROP COLUMN) deletes a claim-checked
# row: the guard check reads the catalogs through the old snapshot, the
# row's text is built from the new catalogs.
# Why: leaf_floor() compares guard_state() (text_shape(),
# sql/src/24_text_shape.sql: SQL over pg_enum and pg_attribute, so under
# the transaction's snapshot) with the last guard_events row (also under the
# snapshot): both are the old ones, they agree, the old floor stands.  But
# small_enough()'s ROW(t.*)::text (30_prune.sql) is built by enum_out, which
# reads the label through the syscache (the latest committed catalogs), and
# with the relation's current descriptor (the dropped column gone).  The
# proof's "a row above the floor was decoded with the shape the table has
# now" (claim_check_floor()) assumes one view of the catalogs; prune() has
# no isolation check (register_slot() got one, fresh_horizon(), 364).
# Here as in test/t/360 (--max-job-bytes 8kB): a row of 180 enum labels of
# 63 bytes and a row with a 9000-byte jsonb column, both claim checks (a
# dropped text column makes this prune() fail instead: small_enough() names
# it, from the old pg_attribute, and the query finds no such column); a session
# starts REPEATABLE READ (SELECT 1: it touches no job table, so neither DDL
# waits for it), the label is renamed to 'a' and the column dropped (each
# recorded, as 360 checks), then that session calls prune().
# Fixed: prune() refuses to run when transaction_isolation is above READ
# COMMITTED (an ERROR naming the level, the HINT says to run it in READ
# COMMITTED); in READ COMMITTED each of its statements reads the catalogs
# afresh.  Checks: the refusal, and both rows kept.  W2Q_ATTACK_CONTROL=1
# runs the same prune() in READ COMMITTED: then both are kept.
# Severity: high (an undelivered job, the only copy of a claim check, is
# deleted without force), needs a prune() in REPEATABLE READ or
# SERIALIZABLE (default_transaction_isolation, a job runner's transaction)
# overlapping the DDL; the same window exists inside one prune() call
# (snapshot taken, DDL commits before its DELETE of the leaf).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_rr_shape');
my $r = start_redis();
my $long = 'l' x 63;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE TYPE lbl AS ENUM ('$long', 'short');
	CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, tags lbl[], blob jsonb);
	SELECT wal2queue.append_only('public.jobs');
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--max-job-bytes', '8kB', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, tags) VALUES ('enum', array_fill('$long'::lbl, ARRAY[180]));
	INSERT INTO jobs (queue, blob) VALUES ('dropped', jsonb_build_object('b', repeat('x', 9000)));
});
ok(wait_until(sub { redis($r, 'XLEN', 'enum') eq '1' && redis($r, 'XLEN', 'dropped') eq '1' }, 30),
	'both delivered') or diag(bridge_log($b));
is(stream_entries($r, 'enum')->[0][1]{wal2queue_claim_check}, 't', 'the enum row is a claim check');
is(stream_entries($r, 'dropped')->[0][1]{wal2queue_claim_check}, 't', 'the blob row is a claim check');
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'jobs', 10);
}

my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe($ENV{W2Q_ATTACK_CONTROL} ? 'BEGIN' : 'BEGIN ISOLATION LEVEL REPEATABLE READ');
$s->query_safe('SELECT 1');
$node->safe_psql('postgres', "ALTER TYPE lbl RENAME VALUE '$long' TO 'a'");
$node->safe_psql('postgres', 'ALTER TABLE jobs DROP COLUMN blob');
is($node->safe_psql('postgres', "SELECT event FROM wal2queue.guard_events "
	. "WHERE relid = 'jobs'::regclass ORDER BY seq DESC LIMIT 1"),
	'ALTER TABLE', 'the changes recorded a new guard state');
my ($deleted, $failed) = $s->query("SELECT wal2queue.prune('public.jobs')");
my $err = $s->{stderr};
$s->query('COMMIT');
$s->quit;
diag("prune deleted $deleted rows; stderr: $err");
if ($ENV{W2Q_ATTACK_CONTROL})
{
	is($err, '', 'prune() runs in READ COMMITTED');
}
else
{
	like($err, qr/wal2queue\.prune: cannot run in a REPEATABLE READ transaction/,
		'prune() refuses REPEATABLE READ, naming the isolation level');
	like($err, qr/READ COMMITTED/, 'the hint names the fix');
}
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'enum'"), '1',
	'the claim-checked row whose enum label was renamed is still there for its worker');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'dropped'"), '1',
	'the claim-checked row whose big column was dropped is still there for its worker');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
