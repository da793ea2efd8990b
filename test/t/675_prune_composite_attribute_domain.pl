# What: owner_code() does not follow a composite type to its attributes'
# types, though docs/extension.md and its header say it does ("a
# composite's attributes (its relation's columns)").  mallory owns the
# domain m.code (over text, CHECK (m.chk(VALUE)), m.chk harmless).  The
# superuser's composite type public.kind_t (code m.code, n int) parses the
# kind strings of its public.job_results, which references public.jobs
# ON DELETE SET NULL and has CHECK (kind::public.kind_t IS NOT NULL).
# Later mallory replaces m.chk (CREATE OR REPLACE) with one that makes her
# a superuser.  prune()'s DELETE sets job_id to NULL; the UPDATE checks
# the CHECK as the owner of public.job_results, the superuser: the cast
# from text runs record_in(), which coerces the attribute "code" to the
# domain and checks it: m.chk() runs as the superuser.
# Why: sql/src/28_owner_session.sql owner_code(): the closure reaches
# public.kind_t (the CHECK's expression records the type it casts to),
# then follows pg_depend rows of the type; a standalone composite type's
# attributes are columns of its pg_class row, and that row depends on the
# type (heap.c), not the type on it, so pg_depend leads nowhere from the
# type and m.code is never reached.  (A column of type public.kind_t, or
# public.kind_t[], is passed the same way.  An expression that selects a
# field, (kind::public.kind_t).n, or builds ROW(...)::public.kind_t, is
# caught: it records the composite's column, or the coercion to the
# domain, and the closure goes on from there.)
# Expected: prune() skips public.jobs with a WARNING naming the domain
# m.code and its owner, or mallory's code never runs as the superuser.
# Severity: high -- a role that owns a domain an attribute of a
# superuser's composite type uses gets superuser at the next scheduled
# prune(); the same as 632's domain one level down, which the docs say
# is covered.
# Fixed: owner_code() (sql/src/28_owner_session.sql) follows a type with
# a typrelid to its pg_class row, and so to its attributes' types (the
# columns' pg_depend rows): m.code and its CHECK's m.chk are reached, and
# prune() skips public.jobs with a WARNING naming domain m.code and role
# mallory.
# Control: W2Q_ATTACK_CONTROL=1 makes the composite's attribute plain
# text: owner_code() passes public.job_results, prune() deletes both
# jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_composite675');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, q{GRANT USAGE ON SCHEMA m TO PUBLIC;
	CREATE FUNCTION m.chk(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
	CREATE DOMAIN m.code AS text CHECK (m.chk(VALUE));
	CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;});
is($err, '', "mallory's domain m.code, its CHECK harmless");
$node->safe_psql('postgres', q{
	CREATE TYPE public.kind_t AS (code } . ($control ? 'text' : 'm.code') . q{, n int);
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}');
	CREATE TABLE public.job_results (job_id bigint REFERENCES public.jobs ON DELETE SET NULL,
	  kind text CHECK (kind::public.kind_t IS NOT NULL));
	INSERT INTO public.job_results VALUES (1, '(a,1)'), (2, '(b,2)');
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s675', 'public.jobs');});
my ($orc, $oout, $oerr) = $node->psql('postgres', q{SELECT wal2queue.owner_code('public.job_results', 'x', 'y')});
is($oout, $control ? 't' : 'f', $control ? 'control: owner_code() passes public.job_results'
	: 'owner_code() refuses public.job_results: its CHECK casts to a composite with an attribute of mallory\'s domain');
like($oerr, qr/uses domain m\.code of role mallory/, 'the WARNING names the domain and its owner') unless $control;
($out, $err) = as_mallory($node, q{CREATE OR REPLACE FUNCTION m.chk(text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN true;
	END $f$;}) unless $control;
is($err, '', "mallory replaces her domain's check function");

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: constraint job_results_kind_check of table public\.job_results .*uses domain m\.code of role mallory/,
	'prune() skips public.jobs, naming the constraint and the domain') unless $control;
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
