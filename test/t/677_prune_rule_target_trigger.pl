# What: a rule of the job table writes another table, and that table's
# triggers are not judged.  The superuser's public.jobs has a rule
# ON DELETE DO ALSO INSERT INTO public.job_archive (the owner's archive,
# written by a rule instead of a trigger); public.job_archive is shared
# with the application: GRANT ALL to mallory, which includes TRIGGER.
# mallory holds nothing on public.jobs.  She adds a trigger to
# public.job_archive calling her function; prune()'s DELETE runs the
# rule's INSERT as its caller, the superuser, and her trigger with it.
# Why: sql/src/28_owner_session.sql owner_code(): a rule is followed
# through pg_depend to the relations its actions write, but a relation
# reached is followed only to its columns' types ("relations as such" are
# not judged), not to its triggers, the TRIGGER privilege on it, its
# defaults, constraints or indexes -- what owner_triggers() and
# owner_code() judge for each table the DELETE writes through a foreign
# key.  docs/extension.md leaves what the owner's own triggers write to
# the owner ("cannot be read from the catalogs"), but a rule's target is
# in the catalogs (pg_depend), and the docs say rules are judged.
# Expected: prune() skips public.jobs with a WARNING naming
# public.job_archive and mallory's TRIGGER privilege (as for a table
# written through a foreign key, test/t/580), or mallory's code never
# runs as the superuser.
# Severity: high -- a role with TRIGGER (GRANT ALL) on a table a job
# table's rule writes gets superuser at the next scheduled prune().
# Fixed: owner_code() (sql/src/28_owner_session.sql) refuses a table the
# DELETE writes that has a rule other than a SELECT one naming another
# table (pg_depend of the rule), with a WARNING naming the rule and the
# table and a HINT to archive from the owner's trigger instead: the
# conservative rule (rules on job tables are rare; the tables a rule
# writes are not followed), documented in docs/extension.md.
# Control: W2Q_ATTACK_CONTROL=1 archives with the owner's AFTER DELETE
# trigger instead of the rule (what the HINT says) and grants mallory only
# SELECT, INSERT on public.job_archive, no trigger: prune() deletes both
# jobs, the trigger archives them, mallory stays unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_rule677');
owner_code_fixture($node, extension => 1);
my $grant = $control ? 'SELECT, INSERT' : 'ALL';
$node->safe_psql('postgres', qq{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	CREATE TABLE public.job_archive (id bigint, queue text);
	GRANT $grant ON public.job_archive TO mallory;
	} . ($control ? q{
	CREATE FUNCTION public.archive() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO public.job_archive VALUES (OLD.id, OLD.queue);
		RETURN OLD;
	END $f$;
	CREATE TRIGGER archive AFTER DELETE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.archive();}
	: q{
	CREATE RULE archive AS ON DELETE TO public.jobs DO ALSO
	  INSERT INTO public.job_archive VALUES (old.id, old.queue);}) . qq{
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}');
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s677', 'public.jobs');});
my ($out, $err) = as_mallory($node, q{CREATE TABLE m.log (cur name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE FUNCTION m.grab() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN NEW;
	END $f$;});
is($err, '', "mallory's function");
($out, $err) = as_mallory($node, q{CREATE TRIGGER grab BEFORE INSERT ON public.job_archive
	FOR EACH ROW EXECUTE FUNCTION m.grab();}) unless $control;
is($err, '', "mallory adds her trigger to the archive table");

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: rule archive of table public\.jobs names table public\.job_archive/,
	'prune() skips public.jobs, naming the rule and the table it writes') unless $control;
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"mallory's trigger did not run as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
if ($control)
{
	is($pout, '2', 'control: prune() deletes both jobs');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM public.job_archive}), '2',
		'control: the trigger archived them');
}

$node->stop;
done_testing();
