# What: a legitimate job table whose owner's own AFTER DELETE trigger
# archives the row into a table named without its schema (INSERT INTO
# job_archive ..., the usual way; docs/extension.md's own example of an
# archive trigger).  A DELETE of the owner's works; prune() fails every
# time with ERROR: relation "job_archive" does not exist, deleting
# nothing: pruning of the table stops until someone rewrites the trigger.
# Why: sql/src/30_prune.sql prune() and delete_delivered() run with
# SET search_path = pg_catalog, pg_temp (docs/extension.md: "a caller's
# search_path cannot redirect anything they call"); the GUC stays in force
# for everything their DELETE runs, so the owner's triggers (and defaults,
# CHECK functions, rules' functions, and the actions' queries of the
# tables written through foreign keys) resolve their unqualified names
# through pg_catalog and pg_temp instead of the search_path they were
# written for.  Not documented (docs/extension.md's archive example names
# its schema).
# Expected: prune() deletes the delivered jobs and the trigger archives
# them as a DELETE of the owner's does, or the documentation says that
# code a prune() runs must qualify its names (or SET its search_path) and
# the ERROR's HINT says so.
# Severity: medium -- no loss and no escalation, but a common setup makes
# prune() fail at each scheduled run (an ERROR in the cron log; the job
# table grows without bound).
# Fixed (documented, by design): the pinned search_path stays -- a
# caller's search_path must not redirect what prune() and its DELETE run.
# docs/extension.md says that code a prune() runs must qualify its names
# or SET its own search_path, and delete_delivered()
# (sql/src/30_prune.sql) turns an undefined table, function or object in
# the DELETE into an ERROR that names the table, the search_path, where
# it failed, and a HINT to qualify the names or ALTER FUNCTION ... SET
# search_path.  This test checks that ERROR (nothing deleted).
# Control: W2Q_ATTACK_CONTROL=1 gives the trigger function SET
# search_path = public: prune() deletes and archives both jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_search_path676');
my $set = $control ? 'SET search_path = public' : '';
$node->safe_psql('postgres', qq{CREATE EXTENSION wal2queue;
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	CREATE TABLE public.job_archive (id bigint, queue text, archived_at timestamptz DEFAULT now());
	CREATE FUNCTION public.archive_job() RETURNS trigger LANGUAGE plpgsql $set AS \$f\$
	BEGIN
		INSERT INTO job_archive (id, queue) VALUES (OLD.id, OLD.queue);
		RETURN OLD;
	END \$f\$;
	CREATE TRIGGER archive AFTER DELETE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.archive_job();
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}'), (3, 'q', '{}');
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s676', 'public.jobs');});
$node->safe_psql('postgres', q{DELETE FROM public.jobs WHERE id = 3});
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_archive}), '1',
	"the owner's DELETE archives the job");

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
if ($control)
{
	is($rc, 0, "control: the superuser's prune() runs without an error");
	is($pout, '2', 'control: and deletes the two jobs');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_archive}), '3',
		'control: which the trigger archived');
}
else
{
	isnt($rc, 0, "prune() fails: the owner's trigger names job_archive without its schema");
	like($perr, qr/ERROR:  wal2queue\.prune: the DELETE from table public\.jobs failed: relation "job_archive" does not exist/,
		'the ERROR names the table and the cause');
	like($perr, qr/DETAIL:  .*search_path = pg_catalog, pg_temp\.  Where: PL\/pgSQL function public\.archive_job\(\)/,
		'its DETAIL names the search_path and the function');
	like($perr, qr/HINT:  Qualify the names in that code with their schema .*SET search_path/,
		'its HINT says to qualify the names or SET search_path');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.jobs}), '2', 'nothing was deleted');
}

$node->stop;
done_testing();
