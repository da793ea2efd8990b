# --create-slot with --plugin=pgoutput "says what to run by hand when the
# role may not" (issue 12), for the usual case on a managed server: the job
# table belongs to the administrator role (it installed the standalone
# script and created the table), the bridge's role is REPLICATION and owns
# nothing.  The bridge cannot create a FOR TABLE publication of a table it
# does not own: it exits 1 naming the server's reason and the statement for
# the tables' owner, and creates no slot.  The administrator runs exactly
# that statement; the same command line then creates the slot and streams,
# and the job table's rows arrive, exactly once across a restart.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('pubhand', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
	CREATE DATABASE app OWNER admin;
});
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
unlike($e, qr/ERROR/, 'the administrator installs the standalone script');
psql_as($node, 'admin', q{GRANT USAGE ON SCHEMA wal2queue TO bridge; SELECT wal2queue.create_job_table('public.jobs')});

my @cmd = ('-d', $node->connstr('app') . ' user=bridge', '--sink', "redis://127.0.0.1:$r->{port}",
	'--plugin', 'pgoutput', '--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot',
	'--tables', 'public.jobs');
my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'a publication the role may not create: exit 1');
like($out, qr/could not create publication "jobs_pub": permission denied for database app; hint: have its tables' owner \(or a superuser, for FOR ALL TABLES\) run: CREATE PUBLICATION/,
	"the server's reason, and who must run what");
is($node->safe_psql('app', 'SELECT count(*) FROM pg_replication_slots'), '0', 'no slot was created');

# with CREATE on the database it is still not the table's owner
psql_as($node, 'admin', q{GRANT CREATE ON DATABASE app TO bridge});
($code, $out) = run_bridge(@cmd);
is($code, 1, 'a table the role does not own: exit 1');
like($out, qr/could not create publication "jobs_pub": must be owner of table jobs; hint: have its tables' owner/,
	'must be owner of the table, said');
my ($stmt) = $out =~ /run: (CREATE PUBLICATION [^\n]*\))/;
is($stmt, q{CREATE PUBLICATION "jobs_pub" FOR TABLE "public"."jobs" WITH (publish = 'insert', publish_via_partition_root = true)},
	'the statement to run');
is($node->safe_psql('app', 'SELECT count(*) FROM pg_replication_slots'), '0', 'still no slot');

# the owner runs it; the same command line then streams
psql_as($node, 'admin', $stmt);
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '"before the slot"')});
my $b = start_bridge($node, $r, @cmd, '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the same command line streams')
  or diag(bridge_log($b));
like(bridge_log($b), qr/registered slot "jobs"/, 'and registers its slot');
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) SELECT 'q', to_jsonb(g) FROM generate_series(1, 5) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '5' }), 'the rows inserted after the slot arrive');
$b->{h}->signal('KILL');
$b->{h}->finish;
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '6')});
$b = start_bridge($node, $r, @cmd, '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '6' }), 'after kill -9 the next one, once');
sleep 1;
is(redis($r, 'XLEN', 'public.jobs'), '6', 'nothing twice');
is(stop_bridge($b) >> 8, 0, 'SIGTERM: exit 0');
stop_redis($r);
$node->stop;
done_testing();
