# What: a job table owned by a NOLOGIN role (the usual layout: an owner
# role that holds the schema's objects, applications logging in as members
# of it) can never be maintained.  The superuser's prune() and
# maintain_partitions() skip it (the owner is no superuser), a member's
# SET ROLE session is skipped, and the remedy the WARNING's HINT and
# docs/extension.md give -- "Run it in a session of role app_owner, e.g.
# with pg_cron: cron.schedule_in_database(..., 'app_owner')" -- cannot
# work: the role cannot log in (pg_cron's connection, libpq or background
# worker, fails with "role is not permitted to log in"; PostgreSQL 15 has
# no bypass).  The table grows forever while cron logs a WARNING a run.
# Why: sql/src/28_owner_session.sql owner_session(): case (b) needs the
# login role to be the owner, and the HINT names the owner's session
# whether or not the owner may log in (rolcanlogin is not read).
# Expected: for an owner that cannot log in, the WARNING says so and names
# a remedy that works (ALTER ROLE app_owner LOGIN for the maintenance job,
# or ALTER TABLE ... OWNER TO a role that logs in).
# Severity: low (operability: nothing unsafe happens, but the documented
# recipe silently never runs; the job table and its WAL-retaining
# partitions grow).
# Reliability: deterministic on main at 95d359f.
# Control: W2Q_ATTACK_CONTROL=1 makes app_owner LOGIN: the recipe's
# session (a plain login as app_owner) prunes without a WARNING.
# Fixed: owner_session() reads rolcanlogin: for an owner that cannot log
# in the WARNING says so ("which cannot log in") and its HINT names ALTER
# ROLE ... LOGIN (then the pg_cron recipe) or ALTER TABLE ... OWNER TO a
# role that can log in.  Following the first, a session of app_owner
# prunes without a WARNING.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('nologin_owner');
my $login = $control ? 'LOGIN' : 'NOLOGIN';
$node->safe_psql('postgres', qq{CREATE EXTENSION wal2queue;
	CREATE ROLE app_owner $login;
	CREATE ROLE app LOGIN IN ROLE app_owner;
	CREATE SCHEMA app AUTHORIZATION app_owner;
	GRANT USAGE ON SCHEMA wal2queue TO app_owner;
	SET ROLE app_owner;
	CREATE TABLE app.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	RESET ROLE;
	SELECT wal2queue.append_only('app.jobs');
	SELECT wal2queue.create_slot('s544', 'app.jobs');});
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('app.jobs', force => true)});
like($err, qr/table app\.jobs is skipped/, "the superuser's prune() skips app_owner's table");
my ($hint) = $err =~ /^HINT:\s+(.*)$/m;
note("HINT: " . ($hint // ''));
# the remedy the HINT gives: a session of app_owner
my ($orc, $oout, $oerr) = $node->psql('postgres', q{SELECT wal2queue.prune('app.jobs', force => true)},
	extra_params => [ '-U', 'app_owner' ]);
note("as app_owner: rc $orc $oout $oerr");
if ($control)
{
	is($orc, 0, "the HINT's session of app_owner prunes");
	unlike($oerr, qr/WARNING/, 'without a WARNING');
}
else
{
	like($oerr, qr/not permitted to log in/, 'app_owner cannot log in: the HINT\'s session of app_owner is impossible');
	like($hint // '', qr/LOGIN|log in|OWNER TO/,
		'the WARNING of a table whose owner cannot log in names a remedy that works');
	like($err, qr/table app\.jobs is skipped: it is owned by role app_owner, which cannot log in/,
		'the WARNING says the owner cannot log in');
	like($hint // '', qr/ALTER ROLE app_owner LOGIN.*cron\.schedule_in_database\(.*'app_owner'\).*ALTER TABLE app\.jobs OWNER TO <role>/,
		'the HINT names ALTER ROLE ... LOGIN with the pg_cron recipe, or ALTER TABLE ... OWNER TO');
	# the HINT's first remedy works
	$node->safe_psql('postgres', 'ALTER ROLE app_owner LOGIN');
	($orc, $oout, $oerr) = $node->psql('postgres', q{SELECT wal2queue.prune('app.jobs', force => true)},
		extra_params => [ '-U', 'app_owner' ]);
	is($orc, 0, 'after ALTER ROLE app_owner LOGIN a session of app_owner prunes');
	unlike($oerr, qr/WARNING/, 'without a WARNING');
	# a login owner keeps the pg_cron recipe alone
	($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('app.jobs', force => true)});
	unlike($err, qr/cannot log in|ALTER ROLE/, "a login owner's WARNING does not speak of logging in");
}
$node->stop;
done_testing();
