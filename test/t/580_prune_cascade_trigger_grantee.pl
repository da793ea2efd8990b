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
# DELETE on the tables (no TRIGGER) and gives her no partition: her CREATE
# TRIGGERs are refused, prune() deletes, mallory stays no superuser.
# Fixed: prune() asks owner_cascades() (sql/src/28_owner_session.sql)
# after owner_session(): it follows the foreign keys onto the job table
# and its partitions whose ON DELETE action is CASCADE, SET NULL or SET
# DEFAULT (their action triggers), transitively (ON DELETE from a table
# deleted from, ON UPDATE from one updated), and asks owner_triggers()
# about each table so written and its partitions, trusting superusers,
# wal2queue's installer and members of both roles the code there runs as
# (the owner of the key's table: the action's query and BEFORE triggers;
# prune()'s caller: the AFTER triggers, queued to the end of the DELETE;
# test/t/559), and refusing such a table, or a partition, whose owner is
# not trusted so.  The job table is skipped, 0 returned, with a
# WARNING naming the table, the key and the role, and the REVOKE, DROP
# TRIGGER or ALTER TABLE ... OWNER TO to run: for mallory's TRIGGER on the
# superuser's job_results (the cascade round), on result_notes, which
# job_results' own key cascades into (the transitive round), for her
# partition of the superuser's partitioned job_events, ON DELETE SET NULL
# (the partition round), and for the tenant's results table in the
# tenant's own session (the tenant round).  Following each HINT, prune()
# deletes.  A REFERENCES grantee's own table still passes (test/t/559).
# What the owner's own AFTER DELETE trigger writes (job_archive) cannot be
# read from the catalogs: docs/extension.md ("Another role's code") says
# to give other roles no TRIGGER on such a table; the archive round
# follows it (her CREATE TRIGGER is refused, prune() deletes).
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
	CREATE TABLE public.job_results (id bigint PRIMARY KEY, job_id bigint REFERENCES public.jobs ON DELETE CASCADE,
	  result text);
	CREATE TABLE public.result_notes (result_id bigint REFERENCES public.job_results ON DELETE CASCADE, note text);
	CREATE TABLE public.job_events (job_id bigint REFERENCES public.jobs ON DELETE SET NULL, day int)
	  PARTITION BY LIST (day);
	CREATE TABLE public.job_events_1 PARTITION OF public.job_events FOR VALUES IN (1);
	CREATE TABLE public.job_archive (id bigint, payload jsonb, deleted_at timestamptz DEFAULT now());
	CREATE FUNCTION public.archive_job() RETURNS trigger LANGUAGE plpgsql AS \$f\$
	BEGIN
		INSERT INTO public.job_archive (id, payload) VALUES (OLD.id, OLD.payload);
		RETURN OLD;
	END \$f\$;
	CREATE TRIGGER jobs_archive AFTER DELETE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.archive_job();
	GRANT SELECT ON public.jobs TO mallory;
	GRANT $grant ON public.job_results TO mallory;
	-- as docs/extension.md says for a table the owner's trigger writes
	GRANT SELECT, INSERT, UPDATE, DELETE ON public.job_archive TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO public.jobs (id, queue) SELECT g, 'q' FROM generate_series(1, 20) g;
	INSERT INTO public.job_results SELECT g, g, 'done' FROM generate_series(1, 20) g;
	INSERT INTO public.result_notes SELECT g, 'ok' FROM generate_series(1, 20) g;
	INSERT INTO public.job_events SELECT g, 1 FROM generate_series(1, 20) g;
	SELECT wal2queue.create_slot('s580', 'public.jobs');});

my $jobs = 20;

# prune() of one job as the superuser (pg_cron): with $warn, skipped
# with a WARNING matching it; else one job deleted, without a WARNING
sub prune_once
{
	my ($name, $warn, $db_user) = @_;
	my $table = $db_user ? 'app.jobs' : 'public.jobs';
	my ($rc, $out, $err);
	if ($db_user)
	{
		($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres') . " user=$db_user",
			'-c', "SELECT wal2queue.prune('$table', 1, force => true)" ]);
		$rc = $err =~ /ERROR/ ? 3 : 0;
	}
	else
	{
		($rc, $out, $err) = $node->psql('postgres', "SELECT wal2queue.prune('$table', 1, force => true)");
	}
	$out =~ s/\s+$//;
	note("$name: prune: rc $rc: $out $err");
	is($rc, 0, "$name: prune() runs");
	if ($warn)
	{
		like($err, $warn, "$name: it skips $table with a WARNING saying why and what to run");
		is($out, '0', "$name: and deletes nothing");
	}
	else
	{
		unlike($err, qr/WARNING/, "$name: without a WARNING");
		is($out, '1', "$name: it deletes one job");
		$jobs-- unless $db_user;
	}
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		"$name: no code of mallory ran as the superuser (mallory is no superuser)");
	$node->safe_psql('postgres', q{ALTER ROLE mallory NOSUPERUSER});
}

# mallory adds a trigger to $table (refused in the control, or with $refused)
sub plant
{
	my ($name, $table, $when, $refused) = @_;
	my ($out, $err) = as_mallory($node, grab_function_sql("grab_$name()", 'trigger', 'NULL') . qq{
	CREATE TRIGGER grab_$name $when ON $table
	  FOR EACH ROW EXECUTE FUNCTION m.grab_$name();}, 1);
	if ($control || $refused)
	{
		like($err, qr/permission denied|must be owner/, "$name: mallory cannot add a trigger to $table");
	}
	else
	{
		is($err, '', "$name: mallory adds a trigger to the superuser's $table");
	}
}

# the cascade: job_results, ON DELETE CASCADE, runs as its owner (the superuser)
plant('cascade', 'public.job_results', 'BEFORE DELETE');
if ($control)
{
	prune_once('cascade');
}
else
{
	prune_once('cascade', qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: mallory may create triggers on table public\.job_results \(the DELETE writes it through its foreign key job_results_job_id_fkey as role postgres\) without owning it.*\n.*\n.*HINT:  .*REVOKE TRIGGER ON public\.job_results FROM mallory;/);
	# the HINT's first half: her trigger is left, and named
	$node->safe_psql('postgres', 'REVOKE TRIGGER ON public.job_results FROM mallory');
	prune_once('cascade, TRIGGER revoked', qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: trigger grab_cascade of table public\.job_results \(.*\) uses function m\.grab_cascade\(\) of role mallory, and would run it as role postgres.*\n.*\n.*HINT:  .*DROP TRIGGER grab_cascade ON public\.job_results;/);
	$node->safe_psql('postgres', 'DROP TRIGGER grab_cascade ON public.job_results');
	prune_once('cascade, her trigger dropped');
}

# transitively: result_notes, whose key cascades from job_results
$node->safe_psql('postgres', "GRANT $grant ON public.result_notes TO mallory");
plant('notes', 'public.result_notes', 'BEFORE DELETE');
if ($control)
{
	prune_once('transitive');
}
else
{
	prune_once('transitive', qr/may create triggers on table public\.result_notes \(the DELETE writes it through its foreign key result_notes_result_id_fkey as role postgres\).*\n.*\n.*HINT:  .*REVOKE TRIGGER ON public\.result_notes FROM mallory;/);
	$node->safe_psql('postgres', q{REVOKE TRIGGER ON public.result_notes FROM mallory;
		DROP TRIGGER grab_notes ON public.result_notes;});
	prune_once('transitive, after the REVOKE and the DROP');
}

# ON DELETE SET NULL into a partitioned table, one partition mallory's
if (!$control)
{
	$node->safe_psql('postgres', q{ALTER TABLE public.job_events_1 OWNER TO mallory});
	prune_once('partition', qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: table public\.job_events_1 \(the DELETE writes it as a partition of table public\.job_events, through that table's foreign key job_events_job_id_fkey, as role postgres\) is owned by role mallory, which can add triggers to it that would run as role postgres.*\n.*\n.*HINT:  .*ALTER TABLE public\.job_events_1 OWNER TO postgres\./);
	$node->safe_psql('postgres', q{ALTER TABLE public.job_events_1 OWNER TO postgres});
}
prune_once('partition, the superuser\'s');

# the archive the superuser's own trigger fills, granted as the docs say
plant('archive', 'public.job_archive', 'AFTER INSERT', 1);
prune_once('archive');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.jobs'), $jobs, "the jobs pruned are gone ($jobs left)");

# a tenant's job table in its own session: the cascade runs as the tenant
# (the first slot, older than the tenant's rows, is dropped: it would hold
# the forced prune back)
$node->safe_psql('postgres', qq{SELECT pg_drop_replication_slot('s580'); SELECT wal2queue.unregister_slot('s580');
	CREATE ROLE app LOGIN;
	CREATE SCHEMA app AUTHORIZATION app;
	GRANT USAGE ON SCHEMA wal2queue TO app;});
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=app', '-c', qq{
	CREATE TABLE app.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE app.results (job_id bigint REFERENCES app.jobs ON DELETE CASCADE);
	GRANT USAGE ON SCHEMA app TO mallory;
	GRANT $grant ON app.results TO mallory;
	SELECT wal2queue.append_only('app.jobs');
	INSERT INTO app.jobs (id, queue) VALUES (1, 'q'), (2, 'q');
	INSERT INTO app.results VALUES (1), (2);} ]);
is($err, '', 'the tenant app creates its job table and a results table, mallory granted on it') or diag($err);
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s580t', 'app.jobs')});
as_mallory($node, q{CREATE TABLE m.seen (who name);
	GRANT USAGE ON SCHEMA m TO PUBLIC;
	GRANT INSERT ON m.seen TO PUBLIC;});
($out, $err) = as_mallory($node, q{CREATE FUNCTION m.tenant() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO m.seen VALUES (current_user);
		RETURN OLD;
	END $f$;
	CREATE TRIGGER grab_tenant BEFORE DELETE ON app.results FOR EACH ROW EXECUTE FUNCTION m.tenant();}, 1);
if ($control)
{
	like($err, qr/permission denied/, 'tenant: mallory cannot add a trigger to app.results');
	prune_once('tenant', undef, 'app');
}
else
{
	is($err, '', "tenant: mallory adds a trigger to the tenant's app.results");
	prune_once('tenant', qr/WARNING:  wal2queue\.prune: table app\.jobs is skipped: mallory may create triggers on table app\.results \(the DELETE writes it through its foreign key results_job_id_fkey as role app\)/, 'app');
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.seen WHERE who <> 'mallory'}), '0',
	'tenant: no code of mallory ran as the tenant');
$node->stop;
done_testing();
