# What: a foreign key onto the job table with ON DELETE NO ACTION (the
# default) is not judged at all, but its check query runs code as the
# owner of the referencing table.  As in test/attack/671, mallory owns the
# enum m.kind and an implicit cast (m.kind AS text) WITH FUNCTION
# m.kind_text(m.kind), not strict; the superuser's public.job_results
# has a column of that enum referencing the job table's text key
# public.jobs (kind) with no action (rows 10 and 11, their kind NULL: not
# yet linked to a job).  Later mallory replaces m.kind_text (CREATE OR
# REPLACE) with one that makes her a superuser.  prune()'s DELETE queues
# RI_FKey_noaction_del for each job deleted, whose query (ri_triggers.c
# ri_restrict(), parsed at run time) is SELECT 1 FROM ONLY
# public.job_results x WHERE $1 OPERATOR(pg_catalog.=) kind::pg_catalog.text
# FOR KEY SHARE OF x, run as the owner of public.job_results: the cast
# runs on each row it scans, as the superuser.  No row references the
# jobs deleted, so the DELETE commits, and with it what the cast did
# (a row referencing one would fail the DELETE and roll that back, but
# not a COPY ... TO PROGRAM or a dblink call the cast made first).
# Why: sql/src/28_owner_session.sql owner_cascades(): "a key whose action
# is not NO ACTION or RESTRICT" is followed; a NO ACTION or RESTRICT key
# is taken to write nothing and so to run nothing (docs/extension.md:
# "it can only make the DELETE fail"), so neither the referencing table
# nor its key is judged by owner_triggers()/owner_code(); and the cast is
# not recorded as used by anything (test/attack/671).
# Expected: prune() skips public.jobs with a WARNING naming the cast (or
# the enum) and its owner, or mallory's code never runs as the superuser.
# Severity: high -- as 671, with a plain REFERENCES key (no action), the
# kind owner_cascades() does not look at; the setup needs the cross-type
# key on another role's enum.
# Fixed: owner_cascades() (sql/src/28_owner_session.sql) also finds the
# keys with NO ACTION or RESTRICT onto each table the DELETE writes and
# judges their table with owner_code() as run by its owner; owner_code()
# follows the casts from or to each type found (test/t/671): prune()
# skips public.jobs with a WARNING naming the key and the cast's function.
# Control: W2Q_ATTACK_CONTROL=1 drops the cast before prune() (the key
# stays: its query then uses the I/O conversion): nothing of mallory's
# runs, prune() deletes both jobs, mallory stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_noaction_cast672');
owner_code_fixture($node, extension => 1);
# mallory's enum and cast, harmless when the tables are made and filled
my ($out, $err) = as_mallory($node, q{CREATE TYPE m.kind AS ENUM ('a', 'b');
	GRANT USAGE ON SCHEMA m TO PUBLIC;
	CREATE FUNCTION m.kind_text(m.kind) RETURNS text LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT AS $f$SELECT format('%s', $1)$f$;
	CREATE CAST (m.kind AS text) WITH FUNCTION m.kind_text(m.kind) AS IMPLICIT;});
is($err, '', "mallory's enum and its implicit cast to text");
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, kind text NOT NULL UNIQUE, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'a', '{}'), (2, 'b', '{}');
	CREATE TABLE public.job_results (id bigint, kind m.kind REFERENCES public.jobs (kind));
	INSERT INTO public.job_results VALUES (10, NULL), (11, NULL);
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s672', 'public.jobs');});
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
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs \(the check of foreign key job_results_kind_fkey of table public\.job_results reads it as role postgres\) is skipped: column kind of table public\.job_results uses function m\.kind_text\(m\.kind\) of role mallory/,
	'prune() skips public.jobs, naming the column and the cast\'s function') unless $control;
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's cast function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
if ($control)
{
	is($pout, '2', 'control: prune() deletes both jobs');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_results}), '2',
		'control: the results are kept (no action)');
}

$node->stop;
done_testing();
