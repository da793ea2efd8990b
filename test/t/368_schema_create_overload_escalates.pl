# Fixed (was test/attack, review 11): a role granted CREATE on schema
# wal2queue after the install became a superuser.  The SECURITY DEFINER
# record_guard() called wal2queue.guarded_tables(job_table) with a regclass
# while the extension's function takes oid: the role's
# wal2queue.guarded_tables(regclass), an exact match, was chosen at run time
# and ran as the extension's owner.  The SECURITY INVOKER functions were
# exposed the same way to a privileged caller (a superuser's cron job
# running prune()): guard_floor() and guard_problem() called
# guard_triggers() and guard_state() with a regclass, slot_selects() called
# tables_select() with names for texts.
# Now every call between the extension's functions on the SECURITY DEFINER
# paths (record_guard(), guard_on_alter(), register_slot() and the other
# registry functions) and in sql/src/25_append_only.sql and
# 40_job_tables.sql passes every argument, cast to the exact parameter
# type (no default, no implicit cast, no named notation), so no function
# another role creates in the schema is a better match: one with the same
# types cannot be created, one needing a default or VARIADIC makes the call
# ambiguous (an error), not another function's.  docs/extension.md says
# not to grant CREATE on the schema.  Case 1: record_guard() run by
# alice's append_only(); case 2: a superuser runs prune(), whose checks
# call guard_problem() of each leaf and slot_selects() of each registered
# slot (tables_select() with a schema and table name: sql/src/30_prune.sql,
# one cast, the only change there).
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

# case 2: functions of alice's matching an argument of an internal call
# better than the extension's (regclass for oid, name for text), run by a
# superuser's prune()
my $evil2 = $ENV{W2Q_ATTACK_CONTROL} ? '' : q{
	CREATE FUNCTION wal2queue.guard_triggers(relid regclass, OUT tgoid oid, OUT version text,
	                                         OUT complete boolean)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE 'ALTER ROLE alice SUPERUSER';
	END $$;
	CREATE FUNCTION wal2queue.tables_select(patterns text, schema_name name, table_name name)
	RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE 'ALTER ROLE alice SUPERUSER';
	    RETURN true;
	END $$;
	CREATE FUNCTION wal2queue.guard_state(leaf regclass) RETURNS text
	LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE 'ALTER ROLE alice SUPERUSER';
	    RETURN NULL;
	END $$;
};
# (independent of case 1: alice starts again without the attribute)
$node->safe_psql('postgres', 'ALTER ROLE alice NOSUPERUSER');
$node->safe_psql('postgres', $evil2, extra_params => [ '-U', 'alice' ]) if $evil2;
$node->safe_psql('postgres', q{SELECT wal2queue.create_job_table('public.jobs', true)});
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
like($err, qr/no registered replication slot selects table public\.jobs/, 'prune() by a superuser ran its checks');
# with a registered slot, the checks match its tables option (slot_selects())
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s', 'public.jobs')});
($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('public.jobs')});
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'"), 'f',
	'alice is still not a superuser after a superuser ran prune() and maintain_partitions()');
$node->stop;
done_testing();
