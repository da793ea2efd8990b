# What: a REFERENCES grantee's code that prune() runs as that grantee (by
# design: the check of a NO ACTION key reads her table as its owner,
# test/t/672) sets the caller's search_path (not LOCAL).  The setting
# outlives the function that ran the DELETE (a plain SET overrides a
# function's SET clause), so the rest of prune() itself, the owner's
# code the DELETE runs later, and the session's next statements resolve
# unqualified names with her schema first: her operator or function runs
# as the superuser.  The superuser's public.jobs grants mallory SELECT
# and REFERENCES (as in test/t/559, 672).  mallory's m.child references
# it with NO ACTION (passes owner_cascades(): a NO ACTION key writes
# nothing, and her code in it runs as mallory), and has an index on
# (job_id + m.f(1)), where m.f() is IMMUTABLE.  When prune()'s DELETE
# checks the key, the RI query on m.child is planned as mallory:
# get_relation_info() -> RelationGetIndexExpressions() runs
# eval_const_expressions() on the index expression, which calls m.f(1)
# as mallory, which does set_config('search_path', 'm, pg_catalog,
# public', false).  Then:
#  1. prune() alone, a plain table, nothing else of the superuser's: back
#     in prune(), "total := total + deleted" is planned for the first
#     time with m first: mallory's operator m.+ (bigint, bigint) runs as
#     the superuser and makes mallory a superuser;
#  2. (her operator dropped) the superuser's script's next statement,
#     SELECT now(), runs m.now() as the superuser; search_path stays hers;
#  3. the superuser's own AFTER DELETE trigger on public.jobs (an
#     archive, its table qualified as docs/extension.md says, test/t/676)
#     fires after the key's check (RI_ConstraintTrigger_* sorts first)
#     and calls now(): m.now() as the superuser, within prune().
# Why: sql/src/28_owner_session.sql owner_cascades()/owner_code() judge
# code by the role it runs as (a table a key's check reads is judged "as
# run by its owner"); but code running as another role inside the
# caller's transaction is no sandbox for the session state: a
# SECURITY_LOCAL_USERID_CHANGE (ri_triggers.c) refuses only role and
# session authorization, not search_path (or other user-settable GUCs,
# temporary objects in the session's pg_temp), and a plain SET inside a
# function with a SET clause for the same variable persists after the
# function exits (PostgreSQL's CREATE FUNCTION docs).  sql/src/30_prune.sql
# prune() and delete_delivered() neither restore nor check the setting
# after the DELETE.
# Expected: mallory's code runs as nobody else: m.log holds no row with
# another role, mallory stays unprivileged, and after prune() the
# session's search_path is what it was (e.g. prune() refuses a table a
# NO ACTION key of an untrusted owner reads, or checks after each DELETE
# that search_path is unchanged and raises an ERROR, rolling back).
# Severity: high -- a role with REFERENCES on a superuser's job table (in
# GRANT ALL) gets superuser at the next prune() of it, reliably, with
# no other condition (case 1; the same against a non-superuser owner's
# prune() in its own session, as that owner, by reading: not run).
# Fixed: owner_cascades() (sql/src/28_owner_session.sql) skips the job
# table, with a WARNING naming the key, its table and that table's owner,
# when a NO ACTION or RESTRICT key onto a table the DELETE writes belongs
# to a table whose owner is not trusted with the caller's rights (a
# superuser, the installer, or a member of the caller): the conservative
# rule, documented in docs/extension.md.  Each case below now checks that
# prune() deleted nothing, said why, and that none of mallory's code ran
# as another role.
# Control: W2Q_ATTACK_CONTROL=1 has m.f() set search_path LOCAL
# (set_config(..., true)): delete_delivered()'s SET clause undoes it
# when it returns, search_path is unchanged in prune() and after it; and
# the archive trigger's function has its own search_path (SET
# search_path = pg_catalog, public, as docs/extension.md advises):
# mallory stays unprivileged.  (A LOCAL SET does reach the archive
# trigger of a function without its own search_path: it fires within
# the DELETE.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $local = $control ? 'true' : 'false';
my $own_path = $control ? 'SET search_path = pg_catalog, public' : '';
my $node = new_node('prune_search_path693');
owner_code_fixture($node, extension => 1);
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}'), (3, 'q', '{}'), (4, 'q', '{}');
	GRANT SELECT, REFERENCES ON public.jobs TO mallory;
	CREATE TABLE public.archive (id bigint, at timestamptz);
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s693', 'public.jobs');});
$node->safe_psql('postgres', qq{CREATE FUNCTION public.archive_job() RETURNS trigger LANGUAGE plpgsql $own_path AS \$f\$
	BEGIN
		INSERT INTO public.archive VALUES (OLD.id, now());
		RETURN NULL;
	END \$f\$;});
my ($out, $err) = as_mallory($node, qq{
	CREATE TABLE m.log (cur name, ses name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE FUNCTION m.f(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS \$f\$
	BEGIN
		PERFORM pg_catalog.set_config('search_path', 'm, pg_catalog, public', $local);
		RETURN i;
	END \$f\$;
	CREATE FUNCTION m.now() RETURNS timestamptz LANGUAGE plpgsql AS \$f\$
	BEGIN
		INSERT INTO m.log VALUES (current_user, session_user);
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN pg_catalog.now();
	END \$f\$;
	CREATE FUNCTION m.plus(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS \$f\$
	BEGIN
		INSERT INTO m.log VALUES (current_user, session_user);
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN a OPERATOR(pg_catalog.+) b;
	END \$f\$;
	CREATE OPERATOR m.+ (leftarg = bigint, rightarg = bigint, function = m.plus);
	CREATE TABLE m.child (job_id bigint REFERENCES public.jobs);
	CREATE INDEX child_expr ON m.child ((job_id + m.f(1)));
	RESET search_path;});
is($err, '', "mallory's m.child (a NO ACTION key onto public.jobs) and its index on m.f()");

my $skipped = qr/WARNING:  wal2queue\.prune: table public\.jobs \(the check of foreign key child_job_id_fkey of table m\.child reads it as role mallory\) is skipped: role mallory is not trusted with the rights of role postgres/;

# 1. prune() alone: its own "total + deleted"
my ($rc, $sout, $serr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', batch => 1, force => true)});
note("prune alone: rc $rc, out: $sout, err: $serr");
is($sout, '0', 'prune() deleted nothing');
like($serr, $skipped, 'the WARNING names the key, its table and its untrusted owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"none of mallory's code ran as another role within prune() (its own +)");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
# (her operator dropped, part 1's traces cleared)
as_mallory($node, q{DROP OPERATOR m.+ (bigint, bigint)});
$node->safe_psql('postgres', q{TRUNCATE m.log; ALTER ROLE mallory NOSUPERUSER});

# 2. the superuser's maintenance script: prune, then another statement
($rc, $sout, $serr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', batch => 1, force => true);
	SHOW search_path;
	SELECT now() IS NOT NULL;});
note("script: rc $rc, out: $sout, err: $serr");
like($sout, qr/^0$/m, 'prune() deleted nothing');
like($serr, $skipped, 'the WARNING names the key, its table and its untrusted owner');
like($sout, qr/^"\$user", public$/m, "the session's search_path is unchanged after prune()");
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"none of mallory's functions ran as another role after prune()");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

# 3. the superuser's archive trigger: within prune() itself, prune() alone
# (part 2's traces cleared first)
$node->safe_psql('postgres', q{TRUNCATE m.log; ALTER ROLE mallory NOSUPERUSER;
	CREATE TRIGGER jobs_archive AFTER DELETE ON public.jobs
	FOR EACH ROW EXECUTE FUNCTION public.archive_job()});
($rc, $sout, $serr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune alone: rc $rc, out: $sout, err: $serr");
is($sout, '0', 'prune() deleted nothing, the archive trigger did not fire');
like($serr, $skipped, 'the WARNING names the key, its table and its untrusted owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"none of mallory's functions ran as another role within prune() (the archive trigger's now())");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

$node->stop;
done_testing();
