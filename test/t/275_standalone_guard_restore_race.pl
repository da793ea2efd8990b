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

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('managedrace', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
	CREATE DATABASE app OWNER admin;
});
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
like($e, qr/could not create the event triggers of wal2queue/, 'installed without the event triggers');

sub as
{
	my ($user, $sql) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . " user=$user", '-c', $sql ]);
	die "as $user: $err" if $err =~ /ERROR/;
	chomp $out;
	return $out;
}
as('admin', q{GRANT USAGE ON SCHEMA wal2queue TO bridge; GRANT CREATE ON DATABASE app TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge});
as('bridge', q{SELECT wal2queue.create_job_table('public.jobs'); GRANT ALL ON jobs, jobs_id_seq TO admin;
	CREATE TABLE migrations (v int)});
# 10 jobs inserted before the slot exists: never delivered
as('admin', q{INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g});
my $b = start_bridge($node, $r, '-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs"/ }), 'the bridge registers its slot')
  or diag(bridge_log($b));

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

as('admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers the new job only')
  or diag(bridge_log($b));
ok(wait_until(sub { as('admin', q{SELECT attested_lsn IS NOT NULL FROM wal2queue.slots}) eq 't' }),
	'the bridge attested its slot');
my $deleted = 0;
for (1 .. 8)
{
	$node->safe_psql('app', 'CHECKPOINT');
	sleep 1;
	$deleted += as('admin', q{SELECT wal2queue.prune('public.jobs')});
	last if $deleted >= 10;
}
note("prune deleted $deleted rows");
is(as('admin', q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '10',
	'prune keeps the 10 jobs no slot delivered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
