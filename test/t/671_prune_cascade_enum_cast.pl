# What: an enum's owner attaches code to it that owner_code() does not
# see: a cast.  mallory owns the enum m.kind ('a', 'b') (a shared type of
# the application's schema) and, as its owner, CREATE CAST (m.kind AS
# text) WITH FUNCTION m.kind_text(m.kind) AS IMPLICIT.  The superuser's
# job table public.jobs has a text key, kind (unique); its table
# public.job_results has a column of mallory's enum referencing it ON
# DELETE SET NULL (the key is accepted since m.kind casts implicitly to
# text).  mallory holds no privilege on either table and adds no trigger.
# Later mallory replaces m.kind_text (CREATE OR REPLACE) with one that
# makes her a superuser.  The key's action query, built as text and
# parsed at run time (ri_triggers.c, ruleutils.c generate_operator_clause):
# UPDATE ONLY public.job_results SET kind = NULL WHERE $1 OPERATOR(
# pg_catalog.=) kind::pg_catalog.text -- the cast is looked up then, and
# her function runs as the owner of public.job_results, the superuser, at
# the next prune().
# Why: sql/src/28_owner_session.sql owner_code(): an enum type is not
# judged ("its owner can only add and rename labels, no code"), but the
# owner of a type can create casts from and to it (and operators on it);
# a cast is reached only when an object records a dependency on it, and
# the foreign key records only its equality operators (text = text): the
# coercion the RI query adds is resolved when the query is parsed.
# Expected: prune() skips public.jobs with a WARNING naming the cast (or
# the enum) and its owner, or mallory's code never runs as the superuser.
# Severity: high -- a role that owns only an enum type used by a
# superuser's table (in a cross-type foreign key written by the DELETE)
# gets superuser at the next scheduled prune().  The setup needs that
# cross-type key, which is less common than 632's domain.
# Fixed: owner_code() (sql/src/28_owner_session.sql) follows, from every
# type it finds (enums included), the pg_cast rows from or to it and
# judges their functions: m.kind_text is mallory's, so prune() skips
# public.jobs with a WARNING naming the column and the function.
# Control: W2Q_ATTACK_CONTROL=1 drops the cast before prune() (the key
# stays: its query then uses the I/O conversion): nothing of mallory's
# runs, prune() deletes, mallory stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_enum_cast671');
owner_code_fixture($node, extension => 1);
# mallory's enum and cast, harmless when the tables are made and filled
my ($out, $err) = as_mallory($node, q{CREATE TYPE m.kind AS ENUM ('a', 'b');
	GRANT USAGE ON SCHEMA m TO PUBLIC;
	CREATE FUNCTION m.kind_text(m.kind) RETURNS text LANGUAGE sql IMMUTABLE AS $f$SELECT format('%s', $1)$f$;
	CREATE CAST (m.kind AS text) WITH FUNCTION m.kind_text(m.kind) AS IMPLICIT;});
is($err, '', "mallory's enum and its implicit cast to text");
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, kind text NOT NULL UNIQUE, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'a', '{}'), (2, 'b', '{}');
	CREATE TABLE public.job_results (id bigint, kind m.kind REFERENCES public.jobs (kind) ON DELETE SET NULL);
	INSERT INTO public.job_results VALUES (10, 'a'), (11, 'b');
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s671', 'public.jobs');});
# later: mallory replaces the cast's function
($out, $err) = as_mallory($node, q{CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE OR REPLACE FUNCTION m.kind_text(m.kind) RETURNS text LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN format('%s', $1);
	END $f$;});
is($err, '', 'mallory replaces the function of her cast');
$node->safe_psql('postgres', q{DROP CAST (m.kind AS text)}) if $control;

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: column kind of table public\.job_results \(the DELETE writes it through its foreign key job_results_kind_fkey as role postgres\) uses function m\.kind_text\(m\.kind\) of role mallory/,
	'prune() skips public.jobs, naming the column and the cast\'s function') unless $control;
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's cast function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
if ($control)
{
	is($pout, '2', 'control: prune() deletes both jobs');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_results WHERE kind IS NULL}), '2',
		'control: the action set both results to NULL');
}

$node->stop;
done_testing();
