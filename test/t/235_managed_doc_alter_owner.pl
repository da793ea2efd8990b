# Fixed: the document has the administrator join the bridge role and grant
# it CREATE on schema public before the ALTER TABLE ... OWNER TO.
#
# The attack: docs/managed.md, "The bridge role: REPLICATION,
# no superuser", run as written by the service's administrator role (RDS
# master user, Azure admin, Cloud SQL cloudsqlsuperuser member: not a
# superuser, CREATEROLE, owner of the database, the role that installed the
# standalone script and so owns the job tables create_job_table() made):
#     GRANT CREATE ON DATABASE app TO wal2queue_bridge;
#     ALTER TABLE public.jobs OWNER TO wal2queue_bridge;
# The ALTER fails with "must be member of role "wal2queue_bridge"": in
# PostgreSQL 15 a non-superuser may give a table only to a role it is a
# member of, and the documented steps never make the administrator one
# (GRANT wal2queue_bridge TO admin); and once it is, the ALTER fails again
# with "permission denied for schema public": the new owner needs CREATE on
# the table's schema, which PostgreSQL 15 no longer grants to PUBLIC on
# schema public (GRANT CREATE ON SCHEMA public TO wal2queue_bridge is
# missing too).  Without the ownership --create-slot
# cannot create the publication (the bridge prints the SQL, which the admin
# cannot run either: "must be owner of table jobs").  (The alternative "or
# create the tables as it" needs that GRANT CREATE ON SCHEMA public too.)
# This test runs the documented statements, extracted from docs/managed.md.
# Expected: they succeed as the administrator (the document adds the
# missing GRANT, or names who must run the statement).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $doc = slurp_file("$root/docs/managed.md");
my ($block) = $doc =~ /## The bridge role: REPLICATION, no superuser\s*```sql\n(.*?)```/s;
ok(defined $block, 'docs/managed.md has the bridge role statements');
# the CREATE ROLE ... REPLICATION is "the service's grant" (superuser only here)
my @stmts = grep { !/^\s*CREATE ROLE/ } map { s/\s*--.*$//r } split /\n/, $block // '';
note("as the administrator: @stmts");

my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('mdoc', no_allow_list => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE DATABASE app OWNER admin;
	CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
});
sub admin
{
	my ($sql) = @_;
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('app') . ' user=admin', '-c', $sql ]);
	return $e;
}
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=admin', '-f', $script ]);
unlike($e, qr/ERROR/, 'the administrator installs the standalone script');
unlike(admin(q{SELECT wal2queue.create_job_table('public.jobs')}), qr/ERROR/,
	'the administrator creates the job table');
for my $s (grep { /\S/ } @stmts)
{
	my $err = admin($s);
	unlike($err, qr/ERROR/, "as documented, the administrator runs: $s") or diag($err);
}
is($node->safe_psql('app', q{SELECT relowner::regrole FROM pg_class WHERE oid = 'public.jobs'::regclass}),
	'wal2queue_bridge', 'the bridge role owns the job table');
$node->stop;
done_testing();
