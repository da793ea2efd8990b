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

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('managedrewrite', no_allow_list => 1);
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
as('bridge', q{SELECT wal2queue.create_job_table('public.jobs'); GRANT ALL ON jobs, jobs_id_seq TO admin});
# 10 jobs inserted before the slot exists: never delivered
as('admin', q{INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs"/ }), 'the bridge registers its slot')
  or diag(bridge_log($b));

# the migration: a rewrite in a savepoint, a constraint at top level
as('bridge', q{
	BEGIN;
	SAVEPOINT m1;
	ALTER TABLE jobs ADD COLUMN shard float8 DEFAULT random();
	RELEASE SAVEPOINT m1;
	ALTER TABLE jobs ADD CONSTRAINT jobs_queue_nonempty CHECK (queue <> '');
	COMMIT;
});
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
