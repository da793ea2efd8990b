# What: owner_session() lets maintenance act on a superuser's job table in
# any session ("its code is trusted"), and on another role's table in its
# owner's session, on the premise that only the owner writes the code that
# runs on the table.  But the TRIGGER privilege lets a role that does not
# own the table create triggers on it, and GRANT ALL (GRANT ALL ON ALL
# TABLES IN SCHEMA ... TO app, the common grant to an application role)
# includes it.  The superuser creates public.jobs and gives the application
# role mallory (no superuser) ALL on it; mallory adds a BEFORE DELETE
# statement trigger calling her function; the superuser's prune() (pg_cron)
# runs its DELETE (even one that deletes no row, as here: it returns 0) and
# with it mallory's function as a superuser, which makes mallory a
# superuser.  The same holds for a tenant's table in the tenant's own
# session: a TRIGGER grantee's code runs with the owner's rights.
# Why: sql/src/28_owner_session.sql owner_session(): case (a) trusts every
# trigger of a table whose owner is a superuser, and case (b) every trigger
# of the owner's table in the owner's session, without asking who created
# them (pg_trigger has no owner: a trigger's function, or the TRIGGER
# privilege held by other roles, says whose code it is); prune()
# (sql/src/30_prune.sql) then DELETEs.
# Expected: prune() skips (WARNING) a job table on which a role other than
# the caller's own session role (or a superuser) holds TRIGGER, or one with
# a trigger whose function another role owns; mallory stays no superuser.
# Severity: high (any role granted ALL on a superuser's job table becomes
# superuser at the next scheduled prune(); silent).
# Reliability: deterministic; fails its last check every run on main at
# 95d359f.
# Control: W2Q_ATTACK_CONTROL=1 grants mallory SELECT, INSERT only (no
# TRIGGER): her CREATE TRIGGER is refused and the check passes.
# Fixed: owner_session() asks owner_triggers() whether the code that can
# run on the table is its owner's: a table on which a role other than the
# owner (no superuser, no member of the owner) holds TRIGGER -- directly,
# through PUBLIC or a group -- is skipped with a WARNING naming the
# grantees and the REVOKE; so is one with a trigger whose function, or a
# function or operator its WHEN uses, is such a role's (a former
# grantee's).  A superuser grantee, or the superuser's own trigger, is
# trusted: the DELETE runs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_trigger_priv');
owner_code_fixture($node, extension => 1);
my $grant = $control ? 'SELECT, INSERT' : 'ALL';
$node->safe_psql('postgres', qq{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	GRANT $grant ON public.jobs TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s541', 'public.jobs');});
my ($out, $err) = as_mallory($node, grab_function_sql('grab()', 'trigger', 'NULL') . q{
	CREATE TRIGGER jobs_grab BEFORE DELETE ON public.jobs
	  FOR EACH STATEMENT EXECUTE FUNCTION m.grab();
	INSERT INTO public.jobs VALUES (1, 'q', '{}');}, 1);
diag("mallory: $out $err");
if ($control)
{
	like($err, qr/permission denied/, 'without TRIGGER mallory cannot add a trigger');
}
else
{
	is($err, '', 'mallory (GRANT ALL) adds a trigger to the superuser\'s job table');
}
$node->safe_psql('postgres', q{INSERT INTO public.jobs VALUES (2, 'q', '{}')}) if $control;
my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
diag("prune: rc $rc: $pout $perr");
is($rc, 0, 'the superuser\'s prune() runs');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"no code of a role that does not own the table ran as prune()'s caller (mallory is no superuser)");
if ($control)
{
	$node->stop;
	done_testing();
	exit 0;
}
like($perr, qr/table public\.jobs is skipped: mallory may create triggers on it/,
	'the WARNING names the TRIGGER grantee');
like($perr, qr/HINT:  Revoke it .*REVOKE TRIGGER ON public\.jobs FROM mallory;/, 'and the REVOKE');

# the superuser's prune(), WARNING and 0 expected, mallory no superuser
my $skipped = sub {
	my ($re, $name) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
	note("prune: rc $rc: $out $err");
	like($err, $re, $name);
	is($out, '0', '0 rows pruned');
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		'mallory is no superuser');
};

# TRIGGER revoked: the trigger a former grantee left is still hers
$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.jobs FROM mallory});
$skipped->(qr/table public\.jobs is skipped: its trigger jobs_grab uses function m\.grab\(\) of role mallory.*\n.*\n.*DROP TRIGGER jobs_grab ON public\.jobs/,
	"a former grantee's trigger function: skipped, the WARNING names the trigger and the DROP");

# her trigger dropped: the superuser's own trigger runs, nothing is skipped
$node->safe_psql('postgres', q{DROP TRIGGER jobs_grab ON public.jobs;
	CREATE TABLE public.ran (who name);
	CREATE FUNCTION public.note() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN INSERT INTO public.ran VALUES (current_user); RETURN NULL; END $f$;
	CREATE TRIGGER jobs_note BEFORE DELETE ON public.jobs FOR EACH STATEMENT EXECUTE FUNCTION public.note();});
($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
is($rc, 0, 'prune() runs once the trigger is dropped');
unlike($perr, qr/WARNING/, 'without a WARNING');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.ran'), '1', "its DELETE ran the superuser's own trigger");

# TRIGGER through PUBLIC, and through a group mallory is a member of
$node->safe_psql('postgres', q{GRANT TRIGGER ON public.jobs TO PUBLIC});
$skipped->(qr/table public\.jobs is skipped: PUBLIC may create triggers on it.*\n.*\n.*REVOKE TRIGGER ON public\.jobs FROM PUBLIC;/,
	'TRIGGER granted to PUBLIC: skipped');
$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.jobs FROM PUBLIC;
	CREATE ROLE writers NOLOGIN;
	GRANT writers TO mallory;
	GRANT TRIGGER ON public.jobs TO writers;});
($out, $err) = as_mallory($node, q{CREATE TRIGGER jobs_grab2 BEFORE DELETE ON public.jobs
	  FOR EACH STATEMENT EXECUTE FUNCTION m.grab();});
is($err, '', 'mallory adds a trigger through her group writers');
$skipped->(qr/table public\.jobs is skipped: writers may create triggers on it/,
	'TRIGGER granted to a group: skipped, the WARNING names the group');

# a superuser grantee is trusted
$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.jobs FROM writers;
	DROP TRIGGER jobs_grab2 ON public.jobs;
	CREATE ROLE admin2 SUPERUSER NOLOGIN;
	GRANT TRIGGER ON public.jobs TO admin2;});
($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
unlike($perr, qr/WARNING/, 'TRIGGER held by a superuser: not skipped');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.ran'), '2', 'the DELETE ran');

# a former grantee's trigger on a built-in function, whose WHEN calls her
# function, or her operator
$node->safe_psql('postgres', q{GRANT TRIGGER ON public.jobs TO mallory});
($out, $err) = as_mallory($node, grab_function_sql('cond(bigint)', 'boolean', 'false') . q{
	CREATE FUNCTION m.cond2(bigint, integer) RETURNS boolean LANGUAGE sql AS $f$ SELECT m.cond($1) $f$;
	CREATE OPERATOR m.=== (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = m.cond2);
	CREATE TRIGGER jobs_when BEFORE DELETE ON public.jobs FOR EACH ROW WHEN (m.cond(old.id))
	  EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger();
	CREATE TRIGGER jobs_when_op BEFORE DELETE ON public.jobs FOR EACH ROW WHEN (old.id OPERATOR(m.===) 1)
	  EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger();});
is($err, '', "mallory's triggers on a built-in function, WHEN calling her code");
$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.jobs FROM mallory});
$skipped->(qr/its trigger jobs_when uses function m\.cond\(bigint\) of role mallory/,
	"a function her trigger's WHEN calls: skipped");
$node->safe_psql('postgres', q{DROP TRIGGER jobs_when ON public.jobs});
$skipped->(qr/its trigger jobs_when_op uses operator m\.===\(bigint,integer\) of role mallory.*\n.*\n.*ALTER OPERATOR m\.===\(bigint,integer\) OWNER TO postgres/,
	"an operator of hers in its WHEN: skipped, the HINT names the owner change");

# a role granted TRIGGER by two grantors is named once
$node->safe_psql('postgres', q{DROP TRIGGER jobs_when_op ON public.jobs;
	CREATE ROLE lead NOLOGIN;
	GRANT TRIGGER ON public.jobs TO lead WITH GRANT OPTION;
	GRANT TRIGGER ON public.jobs TO mallory;
	SET ROLE lead;
	GRANT TRIGGER ON public.jobs TO mallory;
	RESET ROLE;});
$skipped->(qr/table public\.jobs is skipped: lead, mallory may create triggers on it .*\n.*\n.*FROM lead, mallory;/,
	'two grantors of one grantee: each grantee named once');
$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.jobs FROM lead, mallory CASCADE});

# a partition: TRIGGER on one leaf skips that leaf, the others are pruned
# (s541, older and never advanced, would hold back the horizon)
$node->safe_psql('postgres', q{
	SELECT wal2queue.unregister_slot('s541');
	SELECT pg_drop_replication_slot('s541');
	CREATE TABLE public.pjobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
	CREATE TABLE public.pjobs_a PARTITION OF public.pjobs FOR VALUES FROM ('2000-01-01') TO ('2010-01-01');
	CREATE TABLE public.pjobs_b PARTITION OF public.pjobs FOR VALUES FROM ('2010-01-01') TO ('2020-01-01');
	INSERT INTO public.pjobs VALUES (1, 'q', '{}', '2005-01-01'), (2, 'q', '{}', '2015-01-01');
	GRANT SELECT, TRIGGER ON public.pjobs_a TO mallory;
	SELECT wal2queue.append_only('public.pjobs');
	SELECT wal2queue.create_slot('s541p', 'public.pjobs');});
($out, $err) = as_mallory($node, q{CREATE TRIGGER a_grab BEFORE DELETE ON public.pjobs_a
	  FOR EACH STATEMENT EXECUTE FUNCTION m.grab();});
is($err, '', 'mallory adds a trigger to a partition she holds TRIGGER on');
($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.pjobs', force => true)});
note("prune: rc $rc: $pout $perr");
like($perr, qr/partition public\.pjobs_a of table public\.pjobs is skipped: mallory may create triggers on it/,
	'the partition is skipped with a WARNING naming it and mallory');
is($pout, '1', 'the other partition is pruned');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',') FROM public.pjobs}), '1', "the skipped partition's job stays");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
$node->stop;
done_testing();
