# prune() deletes rows no slot delivered on a managed server (the
# standalone script installed by a role that is not a superuser, so no
# event triggers) after an UPDATE that ran, in ANOTHER transaction and
# without any subtransaction, while the guard was disabled, when the
# transaction that enabled the guard again had its xid before the UPDATE
# got one (it wrote something first, then waited for the UPDATE's lock).
# The proof (sql/src/30_prune.sql, point 6: "its xid is below the restoring
# one", "xids are assigned in order") assumes the restoring xid is assigned
# after the lock; it may be assigned long before.  guard_floor()
# (sql/src/25_append_only.sql) then is the pg_trigger row's xmin, the
# restoring xid, below the UPDATE's.  (With the event triggers
# guard_on_alter() records the change after the lock: safe.)
# docs/extension.md's "cannot see" names only an UPDATE in a subtransaction
# of the restoring transaction.  Expected: the 10 rows stay.
#
# Fixed: a change of the guard is trusted only as recorded in guard_events
# after it, in a subtransaction whose xid is assigned after the change's
# lock (the event triggers, or append_only() on a server without them); the
# ENABLE by hand changed the trigger's row version, recorded nowhere, so
# prune() deletes nothing from the table until append_only() is run.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

# 10 jobs inserted before the slot exists: never delivered
my $node = new_managed_node('managedrace', bridge_sql => 'CREATE TABLE migrations (v int)');
my $r = start_redis();
sub as { return psql_as($node, @_) }
my $b = start_managed_bridge($node, $r);

# the owner disables the guard for a maintenance window
as('bridge', q{ALTER TABLE jobs DISABLE TRIGGER wal2queue_append_only});
# the migration that ends the window has its xid first ...
my $mig = $node->background_psql('app', on_error_stop => 1, extra_params => [ '-U', 'bridge' ]);
$mig->query_safe(q{BEGIN});
$mig->query_safe(q{INSERT INTO migrations VALUES (1)});
# ... the application updates the waiting jobs meanwhile (one plain transaction)
my $app = $node->background_psql('app', on_error_stop => 1, extra_params => [ '-U', 'admin' ]);
$app->query_safe(q{BEGIN});
$app->query_safe(q{UPDATE jobs SET payload = payload || '{"attempt": 2}'});
# ... the migration enables the guard again: it waits for the UPDATE's lock
$mig->query_until(qr/enabling/, "\\echo enabling\nALTER TABLE jobs ENABLE ALWAYS TRIGGER wal2queue_append_only;\n");
ok(wait_until(sub { $node->safe_psql('app', q{SELECT count(*) FROM pg_locks WHERE NOT granted}) ne '0' }),
	'the ALTER waits for the UPDATE');
$app->query_safe(q{COMMIT});
$app->quit;
$mig->query_safe(q{COMMIT});
$mig->quit;
is(as('admin', q{SELECT tgenabled FROM pg_trigger WHERE tgname = 'wal2queue_append_only'}), 'A',
	'the guard is enabled again');

my $admin = sub { as('admin', $_[0]) };
delivers_new_job($node, $r, $b, run => $admin);
prune_keeps_undelivered($node, db => 'app', run => $admin);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
