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
append_only_jobs($node, 'tags lbl[], blob jsonb', "CREATE TYPE lbl AS ENUM ('$long', 'short');");
my $b = start_jobs_bridge($node, $r, '--max-job-bytes', '8kB');
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, tags) VALUES ('enum', array_fill('$long'::lbl, ARRAY[180]));
	INSERT INTO jobs (queue, blob) VALUES ('dropped', jsonb_build_object('b', repeat('x', 9000)));
});
delivered_once($r, $b, [qw(enum dropped)], 'both delivered');
is_claim_check($r, 'enum', 'the enum row is a claim check');
is_claim_check($r, 'dropped', 'the blob row is a claim check');
attest_rounds($node, 4);

my ($deleted, $err) = in_repeatable_read($node, sub {
	$node->safe_psql('postgres', "ALTER TYPE lbl RENAME VALUE '$long' TO 'a'");
	$node->safe_psql('postgres', 'ALTER TABLE jobs DROP COLUMN blob');
	is(last_guard_event($node), 'ALTER TABLE', 'the changes recorded a new guard state');
}, "SELECT wal2queue.prune('public.jobs')");
diag("prune deleted $deleted rows; stderr: $err");
refuses_repeatable_read($err, 'prune');
claim_check_kept($node, 'enum', 'enum label was renamed');
claim_check_kept($node, 'dropped', 'big column was dropped');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
