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
# Fixed (session 8, replacing session 7's caller-owned days, test/t/523):
# a table is acted on only when its owner is a superuser or the session is
# the owner's own (wal2queue.owner_session()): admin's run is skipped with
# a WARNING (app's code would run with admin's rights) and creates no day,
# so no day is left admin's.  app's own run creates the days, owned by app,
# when app may CREATE in the schema (the control); without it a WARNING
# names the missing privilege and the GRANT, no ERROR.
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
is($out, '', 'and creates no day');
like($err, qr/WARNING:  wal2queue\.maintain_partitions: table s\.jobs is skipped: it is owned by role app, and this call runs as role admin in a session of role admin/,
	'the table of app is skipped with a WARNING');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('s.jobs', 6, 7)} ]);
diag("maintain_partitions as app: $out $err");
unlike($err, qr/ERROR/, "the table's owner runs the maintenance without an error");
if ($ENV{W2Q_ATTACK_CONTROL})
{
	like($out, qr/^created s\.jobs_p\d{8}$/m, 'and creates the coming days');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('s.jobs')}), '7',
		'today and the next six days have their partitions');
	my @created = $out =~ /^created (\S+)$/mg;
	is($node->safe_psql('postgres', qq{SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class
		WHERE oid::regclass::text IN (@{[ join(',', map { "'$_'" } @created) ]})}), 'app', 'the days created are app\'s');
}
else
{
	is($out, '', 'no day without CREATE on the schema');
	like($err, qr/WARNING:  wal2queue\.create_partitions: no partition of table s\.jobs was created: role app lacks CREATE on schema s\n.*HINT:  GRANT CREATE ON SCHEMA s TO app\./s,
		'a WARNING names the missing privilege and the GRANT');
}
$node->stop;
done_testing();
