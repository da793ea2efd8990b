# What: on a managed server the administrator is no superuser: "admin"
# owns the schema s (CREATE there), is a member of "app" (GRANT app TO
# admin) and runs the partition maintenance; the job table s.jobs belongs
# to "app", which has only USAGE on s (least privilege: the application
# cannot create objects; its tables were created by the migrations and
# given to it).  Since 489's fix, create_partitions() creates each day
# standalone as the caller and gives it to the table's owner (ALTER TABLE
# ... OWNER TO app), which PostgreSQL allows only when the new owner has
# CREATE on the schema: "permission denied for schema s", the whole run
# fails and no day is created.  Before that fix (CREATE TABLE ...
# PARTITION OF by admin, who holds app's privileges and CREATE on s) the
# same call worked: a regression, found when the days run out and INSERTs
# fail.
# Why: sql/src/40_job_tables.sql create_partitions(): 'EXECUTE
# format(''ALTER TABLE %s OWNER TO %I'', part, owner)' whenever the caller
# is a member of the owner and not a superuser (a superuser skips the
# schema check), outside the block that catches only lock errors.
# Expected: admin's maintain_partitions('s.jobs', 6, 7) creates the days
# (e.g. ATTACH as the owner without the ownership transfer, or the day
# created as the owner), as before.
# Severity: medium-low (a managed-server setup with a non-superuser
# administrator and a table owner without CREATE; the maintenance stops,
# loudly; INSERTs fail once the days run out).
# Control: W2Q_ATTACK_CONTROL=1 grants app CREATE on s: passes.
# Fixed: each day is given to the table's owner only where the caller may
# (a superuser, or a member of the owner when the owner has CREATE on the
# schema); otherwise it stays the caller's, as CREATE TABLE ... PARTITION
# OF leaves it, and a NOTICE names the missing privilege: the run creates
# the days (owned by admin here, by app in the control).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_nocreate');
my $grant = $ENV{W2Q_ATTACK_CONTROL} ? 'GRANT CREATE ON SCHEMA s TO app;' : '';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE ROLE admin LOGIN CREATEROLE;
	GRANT app TO admin;
	CREATE SCHEMA s AUTHORIZATION admin;
	GRANT USAGE ON SCHEMA s TO app;
	$grant
	GRANT USAGE ON SCHEMA wal2queue TO admin, app;
	SELECT wal2queue.create_job_table('s.jobs', true);
	ALTER TABLE s.jobs OWNER TO app;
});
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=admin',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 6, 7)} ]);
diag("maintain_partitions as admin: $out $err");
unlike($err, qr/ERROR/, 'the non-superuser administrator runs the maintenance without an error');
like($out, qr/^created s\.jobs_p\d{8}$/m, 'and creates the coming days');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('s.jobs')}), '7',
	'today and the next six days have their partitions');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 's.jobs'::regclass AND pg_get_userbyid(c.relowner) = 'app'}),
		'3', "the days admin created are given to the table's owner, who may CREATE in the schema");
}
else
{
	like($err, qr/NOTICE:  wal2queue\.create_partitions: the partitions created for table s\.jobs are owned by role admin, not by its owner app\n.*DETAIL:  Role app may not be given a table in schema s: it lacks CREATE on it\./s,
		'a NOTICE says who owns the new days and which privilege is missing');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 's.jobs'::regclass AND pg_get_userbyid(c.relowner) = 'admin'}),
		'3', 'the days admin created are admin\'s, as PARTITION OF would leave them');
}
$node->stop;
done_testing();
