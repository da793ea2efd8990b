# The SQL side on a managed server (issue 12): no CREATE EXTENSION, no
# custom output plugin, no superuser.  The standalone script
# (make -C sql standalone) is installed with psql -f by an administrator
# role that owns the database and has CREATEROLE (as on RDS, Azure, Cloud
# SQL); a second run is refused and changes nothing; the REVOKE it cannot
# do is a WARNING with the SQL for a superuser, and so are the event
# triggers it cannot create.  Then a bridge in pgoutput
# mode, as a REPLICATION role that is not a superuser, registers and
# attests its slot through the script's functions, and prune() deletes
# exactly what it delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
my ($out, $err) = run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
ok(-s $script, 'make-standalone.sh builds the script from the parts of the extension script');

my $node = new_node('managed', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
	CREATE DATABASE app OWNER admin;
});

sub install
{
	my ($user) = @_;
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . " user=$user", '-f', $script ]);
	return $e;
}

sub admin_sql
{
	my ($sql) = @_;
	my ($o, $e) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . ' user=admin', '-c', $sql ]);
	die "admin_sql: $e" if $e =~ /ERROR/;
	chomp $o;
	return $o;
}

my $e = install('admin');
unlike($e, qr/ERROR/, 'the administrator role installs it');
like($e, qr/WARNING:  could not revoke EXECUTE on pg_logical_emit_message\(\) from PUBLIC in database "app": role "admin" does not own it/,
	'the REVOKE it may not do is a WARNING');
like($e, qr/HINT:  Have a superuser run: REVOKE EXECUTE ON FUNCTION pg_logical_emit_message/, 'with the SQL to run');
like($e, qr/WARNING:  could not create the event triggers of wal2queue in database "app": role "admin" is not a superuser/,
	'the event triggers it may not create are a WARNING');
like($e, qr/HINT:  Have a superuser run: CREATE EVENT TRIGGER wal2queue_guard_rewrite ON table_rewrite/,
	'with the SQL to run');
is(admin_sql(q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'wal2queue'::regnamespace
	AND proowner = 'admin'::regrole}), '58', 'every function is there, owned by the administrator');
like($e, qr/WARNING:  wal2queue: the event trigger wal2queue_schema_rename was not created: role "admin" may not create event triggers/,
	'the event trigger it may not create is a WARNING');
like($e, qr/HINT:  As a superuser .*run: CREATE EVENT TRIGGER wal2queue_schema_rename ON ddl_command_end/,
	'with the SQL to run');
is(admin_sql(q{SELECT count(*) FROM pg_roles WHERE rolname = 'wal2queue_sender'}), '1',
	'the role wal2queue_sender was created');

$e = install('admin');
like($e, qr/ERROR:  schema "wal2queue" already exists in database "app": wal2queue is installed already/,
	'a second run is refused');
is(admin_sql(q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'wal2queue'::regnamespace}), '58',
	'and changes nothing');

# the bridge's role: REPLICATION, USAGE on the schema, owner of the job
# table; the administrator is not a member of it (so the functions it owns
# do not see the details of the bridge's sessions)
admin_sql(q{
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	GRANT CREATE ON DATABASE app TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
});
$node->safe_psql('app', q{SELECT wal2queue.create_job_table('public.jobs');
	GRANT ALL ON jobs, jobs_id_seq TO admin}, extra_params => [ '-U', 'bridge' ]);
is(admin_sql(q{SELECT pg_has_role('bridge', 'MEMBER')}), 'f', 'the administrator is not a member of the bridge role');
my $b = start_bridge($node, $r, '-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs" in the wal2queue extension's registry/ }),
	'the bridge registers its pgoutput slot');
is(admin_sql('SELECT slot_name, publication FROM wal2queue.slots'), 'jobs|jobs_pub', 'with its publication');
admin_sql(q{INSERT INTO jobs (queue, payload) SELECT 'q', to_jsonb(g) FROM generate_series(1, 20) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '20' }), 'the jobs are delivered');
ok(wait_until(sub { admin_sql(q{SELECT attested_lsn IS NOT NULL FROM wal2queue.slots}) eq 't' }),
	'the bridge attests its slot through the script\'s attest_slot()');
# prune() runs in a session of the table's owner (owner_session(): the
# administrator's call would be skipped, the table is not a superuser's)
sub owner_prune
{
	return $node->safe_psql('app', q{SELECT wal2queue.prune('public.jobs')}, extra_params => [ '-U', 'bridge' ]);
}
my ($aout, $aerr) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('app') . ' user=admin',
	'-c', q{SELECT wal2queue.prune('public.jobs')} ]);
like("$aout|$aerr", qr/^0\|WARNING:  wal2queue\.prune: table public\.jobs is skipped: it is owned by role bridge, and this call runs as role admin/,
	"the administrator's prune() of the bridge's table is skipped with a WARNING");
my $deleted = 0;
ok(wait_until(sub {
	$node->safe_psql('app', 'CHECKPOINT');
	$deleted += owner_prune();
	$deleted == 20 }, 60), 'prune deletes the delivered jobs');
is(stop_bridge($b) >> 8, 0, 'bridge stopped');
admin_sql(q{INSERT INTO jobs (queue, payload) VALUES ('q', '"waiting"')});
$node->safe_psql('app', 'CHECKPOINT');
is(owner_prune(), '0', 'and none that waits');

# uninstall
my ($code, $log) = run_bridge('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--drop-slot');
like($log, qr/unregistered slot "jobs" from the wal2queue extension's registry/, '--drop-slot unregisters the slot');
admin_sql(q{DROP SCHEMA wal2queue CASCADE});
is(admin_sql(q{SELECT to_regnamespace('wal2queue') IS NULL}), 't', 'DROP SCHEMA wal2queue CASCADE uninstalls it');

stop_redis($r);
$node->stop;
done_testing();
