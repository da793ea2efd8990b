# Attack review 11, fixed: wal2queue.create_slot() called in a REPEATABLE READ (or
# SERIALIZABLE) transaction registers the slot with a delivers_from taken
# BEFORE the slot was created, so prune() deletes rows the slot never
# decoded.  register_slot() (sql/src/20_slots.sql) takes
# pg_current_snapshot() for delivers_from and registered_snapshot; in READ
# COMMITTED that is a fresh snapshot after pg_create_logical_replication_slot()
# returned, but in REPEATABLE READ it is the transaction's snapshot, taken at
# its first statement.  A transaction B that got its xid after that snapshot
# and was still running when the slot was created is waited for by the slot
# creation (snapbuild) and commits before the slot's consistent point: the
# slot never decodes it, yet its xid is >= delivers_from (point 1 of the
# rule: "delivers_from is the xmax of a snapshot taken after S was
# created").  The same holds for register_slot() called by hand in the
# transaction that created the slot.  Here B's row is never delivered (its
# stream stays empty) and prune() without force deletes it.
# Fixed: register_slot() takes delivers_from from fresh_horizon()
# (sql/src/20_slots.sql): in READ COMMITTED the xmax of the statement's
# snapshot as before; in REPEATABLE READ or SERIALIZABLE the xid it assigns
# to the transaction then, after the slot exists (every later xid was
# assigned after the slot's consistent point), and a transaction that had an
# xid before is refused with an error.  Here delivers_from is above B's xid
# and B's row is kept.
# Severity: high (an undelivered job is deleted without force); needs the
# documented function run in a non-default isolation level (a session with
# default_transaction_isolation = 'repeatable read' suffices).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('create_slot_rr');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $iso = $ENV{W2Q_ATTACK_CONTROL} ? 'READ COMMITTED' : 'REPEATABLE READ';
my $a = $node->background_psql('postgres', on_error_stop => 1);
$a->query_safe("BEGIN ISOLATION LEVEL $iso");
$a->query_safe('SELECT 1');
my $b = $node->background_psql('postgres', on_error_stop => 1);
$b->query_safe('BEGIN');
$b->query_safe(q{INSERT INTO jobs (queue, payload) VALUES ('early', '{}')});
# create_slot() waits for B, which is running
$a->query_until(qr/sent/, "\\echo sent\nSELECT wal2queue.create_slot('jobs', 'public.jobs');\n");
sleep 1;
$b->query_safe('COMMIT');
$a->query_safe('COMMIT');
$a->quit;
$b->quit;
my $early_xmin = $node->safe_psql('postgres', "SELECT xmin FROM jobs WHERE queue = 'early'");
diag("B's xid $early_xmin; registered delivers_from "
	. $node->safe_psql('postgres', "SELECT delivers_from FROM wal2queue.slots WHERE slot_name = 'jobs'"));

my $bridge = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('late', '{}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'late') // 0) eq '1' }, 30), 'a later job is delivered')
	or diag(bridge_log($bridge));
is(redis($r, 'XLEN', 'early') // 0, '0', "B's job was never delivered: the slot did not decode B");

my $deleted = prune_until_gone($node, "queue = 'late'");
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'late'"), '0',
	'the later row, delivered, is pruned (the control)');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'early'"), '1',
	"B's row, which no slot delivered, is still there");
stop_bridge($bridge);
stop_redis($r);
$node->stop;
done_testing();
