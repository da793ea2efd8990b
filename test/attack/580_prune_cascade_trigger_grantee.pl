# What: owner_triggers() asks who may add triggers to the job table only;
# the DELETE of prune() also writes other tables, whose triggers run too.
# The superuser's public.jobs has a results table, public.job_results
# (job_id REFERENCES public.jobs ON DELETE CASCADE), and an audit table
# filled by the superuser's own AFTER DELETE trigger on jobs
# (public.job_archive); the worker role mallory writes both, granted ALL
# (GRANT ALL ON ALL TABLES IN SCHEMA public TO app, as 541 assumes) and no
# privilege on public.jobs but SELECT.  mallory adds a trigger to each of
# the two tables.  The superuser's prune() (pg_cron) deletes the delivered
# jobs: the cascade deletes from job_results as that table's owner (the
# superuser: ri_triggers.c runs a referential action as the referencing
# table's owner), the archive trigger inserts into job_archive as the
# caller, and mallory's triggers run as the superuser: mallory becomes a
# superuser.  The same for a tenant's job table in its owner's session
# (the cascade then runs as the tenant).
# Why: sql/src/28_owner_session.sql owner_triggers(): the TRIGGER ACL and
# the trigger functions of REL only; test/t/559 covers a REFERENCES
# grantee's own table (the action runs as that grantee), not a table of the
# owner (or a superuser) that another role holds TRIGGER on, reached by an
# ON DELETE action or by the owner's trigger.
# Expected: prune() skips (WARNING) a job table whose DELETE reaches a table
# on which a role other than the trusted ones holds TRIGGER, or has a
# trigger of such a role's code (ON DELETE CASCADE / SET NULL / SET DEFAULT
# referencing tables, transitively; what the owner's triggers write cannot
# be known, so the WARNING/docs must at least say so); mallory stays no
# superuser.
# Severity: high (the escalation of 541 through one more table: any role
# granted ALL on a results table of a superuser's job table becomes
# superuser at the next scheduled prune(); silent).
# Reliability: deterministic; fails both cases every run on main at 362c68c.
# Control: W2Q_ATTACK_CONTROL=1 grants mallory SELECT, INSERT, UPDATE,
# DELETE on the two tables (no TRIGGER): her CREATE TRIGGERs are refused,
# prune() deletes, mallory stays no superuser (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_cascade580');
owner_code_fixture($node, extension => 1);
my $grant = $control ? 'SELECT, INSERT, UPDATE, DELETE' : 'ALL';
$node->safe_psql('postgres', qq{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE public.job_results (job_id bigint REFERENCES public.jobs ON DELETE CASCADE, result text);
	CREATE TABLE public.job_archive (id bigint, payload jsonb, deleted_at timestamptz DEFAULT now());
	CREATE FUNCTION public.archive_job() RETURNS trigger LANGUAGE plpgsql AS \$f\$
	BEGIN
		INSERT INTO public.job_archive (id, payload) VALUES (OLD.id, OLD.payload);
		RETURN OLD;
	END \$f\$;
	CREATE TRIGGER jobs_archive AFTER DELETE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.archive_job();
	GRANT SELECT ON public.jobs TO mallory;
	GRANT $grant ON public.job_results, public.job_archive TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO public.jobs (id, queue) VALUES (1, 'q'), (2, 'q');
	INSERT INTO public.job_results VALUES (1, 'done'), (2, 'done');
	SELECT wal2queue.create_slot('s580', 'public.jobs');});

sub round
{
	my ($name, $table, $when) = @_;
	my ($out, $err) = as_mallory($node, grab_function_sql("grab_$name()", 'trigger', 'NULL') . qq{
	CREATE TRIGGER ${table}_grab $when ON public.$table
	  FOR EACH STATEMENT EXECUTE FUNCTION m.grab_$name();}, 1);
	if ($control)
	{
		like($err, qr/permission denied/, "$name: without TRIGGER mallory cannot add a trigger to public.$table");
	}
	else
	{
		is($err, '', "$name: mallory (GRANT ALL) adds a trigger to the superuser's public.$table");
	}
	# one job a round (both were written before the slot: force deletes them)
	my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', 1, force => true)});
	note("$name: prune: rc $rc: $pout $perr");
	is($rc, 0, "$name: the superuser's prune() runs");
	is($pout, '1', "$name: it deletes one job") if $control;
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		"$name: no code of mallory ran as prune()'s caller or as the superuser (mallory is no superuser)");
	$node->safe_psql('postgres', q{ALTER ROLE mallory NOSUPERUSER});
	as_mallory($node, "DROP TRIGGER IF EXISTS ${table}_grab ON public.$table", 1);
}

round('cascade', 'job_results', 'BEFORE DELETE');
round('archive', 'job_archive', 'AFTER INSERT');
$node->stop;
done_testing();
