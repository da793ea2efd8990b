# Attack review 11, fixed: prune() deleted a claim-checked row after a catalog change
# made its text form shorter than it was when the plugin decoded it.
# claim_check_floor() (sql/src/30_prune.sql, point 7) compares the floor with
# octet_length(ROW(t.*)::text) AS OF PRUNE TIME, while the plugin chose the
# claim check from the text it made at decode time.  Nothing ties the two:
# ALTER TYPE ... RENAME VALUE of an enum shortens every value of that label
# (63 bytes -> 1 byte) without an ALTER TABLE of the job table, and
# ALTER TABLE ... DROP COLUMN changes neither the file nor the guard
# triggers, so guard_state() is unchanged: no new guard record, the guard
# floor stays, and the row is judged by a text form the plugin never saw.
# Here (--max-job-bytes 8kB, floor 465) a row with 180 enum labels of 63
# bytes (about 11.5kB of text) is delivered as a claim check; after the label
# is renamed to 'a' its text form is about 380 bytes and prune() without
# force deletes it before its worker read it.  The second row shows the same
# with a big column dropped (the claim check still names the row; the worker
# finds nothing).
# Fixed: the guard state (guard_state(), sql/src/25_append_only.sql) holds
# the table's text shape (text_shape(), sql/src/24_text_shape.sql): its
# columns (number, type, name) and the row versions of the labels of every
# enum and the attributes of every composite its columns reach.  DROP COLUMN
# (ALTER TABLE) and ALTER TYPE ... RENAME VALUE change it; guard_on_alter()
# records the new state (for ALTER TYPE after locking the tables that use
# the type in SHARE mode, lock_shape_changed()), which moves the guard
# floor: rows written before count as undelivered, so a row is only ever
# judged by the text form the plugin made of it (claim_check_floor(), the
# rule in its comment).  Without the event triggers the state differs from
# the recorded one and the table keeps every row.  The small row written
# before the changes is kept too; a small row written after them is pruned.
# Each change is checked to record a new floor.
# Severity: high (an undelivered job is deleted without force), needs a
# catalog change after the insert.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_enum');
my $r = start_redis();
my $long = 'l' x 63;
append_only_jobs($node, 'tags lbl[], blob text', "CREATE TYPE lbl AS ENUM ('$long', 'short');");
my $b = start_jobs_bridge($node, $r, '--max-job-bytes', '8kB');
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, tags) VALUES ('enum', array_fill('$long'::lbl, ARRAY[180]));
	INSERT INTO jobs (queue, blob) VALUES ('dropped', repeat('x', 9000));
	INSERT INTO jobs (queue) VALUES ('early');
});
delivered_once($r, $b, [qw(enum dropped early)], 'all three delivered');
is_claim_check($r, 'enum', 'the enum row is a claim check: its content is only in the table');
is_claim_check($r, 'dropped', 'the blob row is a claim check too');
is($node->safe_psql('postgres', "SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"),
	'8192', 'the registry knows max-job-bytes 8kB');

# the catalog changes: neither touches the job table's file or guard
# (W2Q_ATTACK_CONTROL=1 leaves them out: then both rows stay)
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$node->safe_psql('postgres', "ALTER TYPE lbl RENAME VALUE '$long' TO 'a'");
	is(last_guard_event($node), 'ALTER TYPE', 'the label renamed moved the floor of the table that uses it');
	$node->safe_psql('postgres', 'ALTER TABLE jobs DROP COLUMN blob');
	is(last_guard_event($node), 'ALTER TABLE', 'the column dropped moved it again');
}
# a small row written after the changes: delivered whole, and prunable
$node->safe_psql('postgres', "INSERT INTO jobs (queue) VALUES ('small')");
ok(wait_until(sub { redis($r, 'XLEN', 'small') eq '1' }, 30), 'the small row delivered')
  or diag(bridge_log($b));
diag('floor ' . $node->safe_psql('postgres', "SELECT wal2queue.claim_check_floor('public.jobs')")
	. ', text forms now: ' . $node->safe_psql('postgres',
	"SELECT string_agg(queue || '=' || octet_length(ROW(j.*)::text), ' ' ORDER BY id) FROM jobs j"));

my $deleted = prune_until_gone($node, "queue = 'small'");
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '0',
	'the small row, delivered whole, is pruned (the control)');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'early'"),
	$ENV{W2Q_ATTACK_CONTROL} ? '0' : '1',
	'a small row written before the changes is kept too (below the floor they moved)');
claim_check_kept($node, 'enum', 'enum label was renamed');
claim_check_kept($node, 'dropped', 'big column was dropped');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
