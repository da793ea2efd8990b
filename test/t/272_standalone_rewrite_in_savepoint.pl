# prune() deletes rows no slot delivered on a managed server (the
# standalone script installed by a role that is not a superuser, so no
# event triggers): guard_floor() (sql/src/25_append_only.sql) then takes the
# xmin of the table's pg_class row for the last rewrite.  A migration that
# rewrites the table inside a savepoint (ORMs nest migrations in
# savepoints) and then touches the table again at top level (ADD
# CONSTRAINT, GRANT, ALTER ... SET (...): any later change of the pg_class
# row) leaves that row with the top-level xid, BELOW the subtransaction xid
# the rewrite gave every row.  The rewritten rows then pass as inserted
# since the floor.  Not among docs/extension.md's "cannot see" (that names
# only an UPDATE in a subtransaction with the guard re-enabled by hand).
# Expected: the 10 rows inserted before the slot stay.
#
# Fixed: the floor is valid only while the table's guard state (its
# relfilenode, its guard triggers' row versions) is the one last recorded in
# guard_events (by append_only(), create_partitions() or the event
# triggers); the rewrite gave the table a new file that nothing recorded, so
# prune() deletes nothing from it (a NOTICE names it and append_only() as
# the way out).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

# 10 jobs inserted before the slot exists: never delivered
my $node = new_managed_node('managedrewrite');
my $r = start_redis();
sub as { return psql_as($node, @_) }
my $b = start_managed_bridge($node, $r);

# the migration: a rewrite in a savepoint, a constraint at top level
as('bridge', q{
	BEGIN;
	SAVEPOINT m1;
	ALTER TABLE jobs ADD COLUMN shard float8 DEFAULT random();
	RELEASE SAVEPOINT m1;
	ALTER TABLE jobs ADD CONSTRAINT jobs_queue_nonempty CHECK (queue <> '');
	COMMIT;
});
my $admin = sub { as('admin', $_[0]) };
delivers_new_job($node, $r, $b, run => $admin);
prune_keeps_undelivered($node, db => 'app', run => $admin);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
