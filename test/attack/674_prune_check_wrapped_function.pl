# What: 632's CHECK case one call away.  test/t/632 shows a superuser's
# table CHECK (m.chk(job_id)) calling mallory's function skipped; here the
# CHECK calls public.audit_ok(job_id), a superuser's function whose body
# (LANGUAGE sql without BEGIN ATOMIC, or plpgsql) calls mallory's
# m.chk(bigint) -- a hook the application's team provides.  The superuser's
# public.job_results references public.jobs ON DELETE SET NULL with that
# CHECK.  Later mallory replaces m.chk (CREATE OR REPLACE) with one that
# makes her a superuser.  prune()'s DELETE sets job_id to NULL, the UPDATE
# checks the CHECK as the owner of public.job_results, the superuser:
# public.audit_ok() calls m.chk(), mallory becomes a superuser.
# Why: sql/src/28_owner_session.sql owner_code(): "What the write can run
# is read positively, as a closure over pg_depend, which records every
# object a stored expression or definition uses" -- but a function body
# in a string (SQL without BEGIN ATOMIC, plpgsql, any PL) records nothing:
# the closure stops at public.audit_ok(), owned by a superuser, and passes
# the table.  The same call written in the CHECK directly is refused
# (632): the judgement depends on a wrapper, not on what runs.
# Expected: prune() skips public.jobs (as for the direct call), or
# mallory's code never runs as the superuser.  At least docs/extension.md
# should say a trusted function's body is trusted whatever it calls.
# Severity: medium -- needs a superuser's function that calls another
# role's function by name (the superuser chose to call it; the 632 fix
# refuses the same choice made one level up); the result is superuser.
# Control: W2Q_ATTACK_CONTROL=1 leaves m.chk harmless (SELECT true):
# nothing of mallory's runs as another role, prune() deletes, mallory
# stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_wrapped674');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, q{GRANT USAGE ON SCHEMA m TO PUBLIC;
	CREATE FUNCTION m.chk(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
	CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;});
is($err, '', "mallory's hook m.chk(), harmless");
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.audit_ok(id bigint) RETURNS boolean LANGUAGE sql VOLATILE
	  AS 'SELECT m.chk(id)';
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}');
	CREATE TABLE public.job_results (job_id bigint REFERENCES public.jobs ON DELETE SET NULL
	  CHECK (public.audit_ok(job_id)));
	INSERT INTO public.job_results VALUES (1), (2);
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s674', 'public.jobs');});
($out, $err) = as_mallory($node, q{CREATE OR REPLACE FUNCTION m.chk(bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN true;
	END $f$;}) unless $control;
is($err, '', 'mallory replaces her hook');

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
if ($control)
{
	is($pout, '2', 'control: prune() deletes both jobs');
}

$node->stop;
done_testing();
