# What: a view's owner changes the code a view runs at any time (CREATE OR
# REPLACE VIEW), and owner_code() does not follow a relation it reaches
# into its query.  mallory owns the view m.kinds, the application's list
# of job kinds (SELECT 'a'::text AS kind).  The superuser's
# public.job_results references public.jobs ON DELETE SET NULL and has
# CHECK (public.kind_ok(kind)), a superuser's SQL function with a
# standard body (BEGIN ATOMIC) that reads m.kinds: pg_depend records the
# view as used by the function, and owner_code() reaches it.  mallory
# holds no privilege on either table and adds no trigger.  Later mallory
# replaces the view (same column) with one whose WHERE calls her m.grab():
# a function a view calls runs as the role that reads the view.  prune()'s
# DELETE sets job_results.job_id to NULL; the UPDATE checks the CHECK, as
# the owner of public.job_results, the superuser; m.grab() makes mallory a
# superuser.
# Why: sql/src/28_owner_session.sql owner_code(): relations are not judged
# ("their owner cannot change code that runs here without one of the
# objects above; a relation's columns are followed"): a relation reached
# is followed only through its own pg_depend rows (its columns' types), but
# a view's query is its _RETURN rule (pg_rewrite), which depends on the
# view, not the view on it, so the functions the view calls are never
# reached; and the view's owner replaces that query without any object the
# closure judges.  (A function body without BEGIN ATOMIC records nothing
# at all; here the closure does reach the view and still passes it.)
# Expected: prune() skips public.jobs with a WARNING naming the view (or
# m.grab()) and its owner, or mallory's code never runs as the superuser.
# Severity: high -- a role that owns only a view that a superuser's
# constraint reads (through a function) gets superuser at the next
# scheduled prune(); the same holds for a view read by a rule, a policy
# (in an owner's session with FORCE ROW LEVEL SECURITY) or a default.
# Fixed: owner_code() (sql/src/28_owner_session.sql) judges the owner of
# a view it reaches (and of a table with row level security: its owner
# changes its policies) and follows the view's _RETURN rule (and such a
# table's policies) to what they use: mallory's view refuses
# public.job_results, and so public.jobs, from the start, with a WARNING
# naming view m.kinds and its owner.
# Control: W2Q_ATTACK_CONTROL=1 gives the view to the superuser (mallory
# cannot replace it) and leaves it as it was: owner_code() passes,
# prune() deletes, mallory stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_view673');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, q{CREATE VIEW m.kinds AS SELECT 'a'::text AS kind;
	GRANT USAGE ON SCHEMA m TO PUBLIC;
	GRANT SELECT ON m.kinds TO PUBLIC;
	CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE FUNCTION m.grab() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN true;
	END $f$;});
is($err, '', "mallory's view of the job kinds");
$node->safe_psql('postgres', q{ALTER VIEW m.kinds OWNER TO postgres}) if $control;
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.kind_ok(k text) RETURNS boolean LANGUAGE sql STABLE
	BEGIN ATOMIC
		SELECT k IS NULL OR EXISTS (SELECT FROM m.kinds v WHERE v.kind = k);
	END;
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}');
	CREATE TABLE public.job_results (job_id bigint REFERENCES public.jobs ON DELETE SET NULL,
	  kind text CHECK (public.kind_ok(kind)));
	INSERT INTO public.job_results VALUES (1, 'a'), (2, 'a');
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s673', 'public.jobs');});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_depend
	WHERE classid = 'pg_proc'::regclass AND objid = 'public.kind_ok(text)'::regprocedure
	  AND refclassid = 'pg_class'::regclass AND refobjid = 'm.kinds'::regclass}), '1',
	'pg_depend records the view as used by the CHECK\'s function');
my ($orc, $oout, $oerr) = $node->psql('postgres', q{SELECT wal2queue.owner_code('public.job_results', 'x', 'y')});
is($oout, $control ? 't' : 'f', $control ? 'control: owner_code() passes public.job_results'
	: "owner_code() refuses public.job_results: its CHECK's function reads mallory's view");
like($oerr, qr/uses view m\.kinds of role mallory/, 'the WARNING names the view and its owner') unless $control;
# later: mallory replaces her view
($out, $err) = as_mallory($node, q{CREATE OR REPLACE VIEW m.kinds AS SELECT 'a'::text AS kind WHERE m.grab()})
	unless $control;
is($err, '', 'mallory replaces her view');

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: constraint job_results_kind_check of table public\.job_results .* of role mallory/,
	'prune() skips public.jobs') unless $control;
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
if ($control)
{
	is($pout, '2', 'control: prune() deletes both jobs');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_results WHERE job_id IS NULL}), '2',
		'control: the action set both results to NULL');
}

$node->stop;
done_testing();
