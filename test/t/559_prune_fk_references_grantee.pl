# What: what else a role that does not own a job table can attach to it
# that prune()'s DELETE runs.  Rules, policies, indexes, statistics,
# inheritance children and partitions need ownership; triggers need the
# TRIGGER privilege (test/t/541, 543).  The REFERENCES privilege (in GRANT
# ALL) lets another role create a foreign key from its own table onto the
# job table, ON DELETE CASCADE or SET NULL, whose action -- and the
# triggers of the referencing table it fires -- runs when prune() deletes
# a referenced job.  The superuser's public.jobs grants mallory SELECT and
# REFERENCES (no TRIGGER, so owner_triggers() lets it be pruned); mallory's
# m.child references it ON DELETE CASCADE, m.child2 ON DELETE SET NULL,
# and a trigger on each records current_user and session_user, tries to
# RESET ROLE, and tries to make mallory superuser.
# Why: PostgreSQL runs a referential action as the owner of the
# referencing table (ri_triggers.c: SetUserIdAndSecContext(fk_rel's owner,
# SECURITY_LOCAL_USERID_CHANGE)), and set_config() of role or
# session_authorization is refused under a local user-id change.
# Expected (holds on main at 95d359f, kept as a guard): prune() deletes the
# jobs; the cascade and its trigger run as mallory (session_user the
# superuser's), her RESET ROLE is refused, mallory is no superuser.  No
# check in owner_session() is needed for foreign keys; a REFERENCES
# grantee can only make the DELETE fail (an ON DELETE NO ACTION key, or
# an error in its trigger): no escalation.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_fk_references');
owner_code_fixture($node, extension => 1);
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}'), (3, 'q', '{}');
	GRANT SELECT, REFERENCES ON public.jobs TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s549', 'public.jobs');});
my ($out, $err) = as_mallory($node, q{
	CREATE TABLE m.log (cur name, ses name, reset text);
	CREATE FUNCTION m.ri() RETURNS trigger LANGUAGE plpgsql AS $f$
	DECLARE
		msg text := 'none';
	BEGIN
		BEGIN
			PERFORM set_config('role', 'none', true);
			msg := 'reset to ' || current_user;
		EXCEPTION WHEN OTHERS THEN
			msg := SQLERRM;
		END;
		INSERT INTO m.log VALUES (current_user, session_user, msg);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END $f$;
	CREATE TABLE m.child (job_id bigint REFERENCES public.jobs ON DELETE CASCADE);
	CREATE TABLE m.child2 (job_id bigint REFERENCES public.jobs ON DELETE SET NULL);
	CREATE TRIGGER child_ri BEFORE DELETE ON m.child FOR EACH ROW EXECUTE FUNCTION m.ri();
	CREATE TRIGGER child2_ri BEFORE UPDATE ON m.child2 FOR EACH ROW EXECUTE FUNCTION m.ri();
	INSERT INTO m.child VALUES (1);
	INSERT INTO m.child2 VALUES (2);});
is($err, '', "mallory's tables reference the superuser's job table ON DELETE CASCADE and SET NULL");

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
unlike($perr, qr/WARNING/, 'without a WARNING (no TRIGGER grantee)');
is($pout, '3', 'it deletes the three jobs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.child}), '0', 'the cascade deleted m.child\'s row');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.child2 WHERE job_id IS NULL}), '1', 'and set m.child2\'s to null');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT cur || ' ' || ses, ',') FROM m.log}), 'mallory postgres',
	"the referential actions and their triggers ran as mallory, the referencing tables' owner");
like($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT reset, ',') FROM m.log}),
	qr/^cannot set parameter "role" within security-definer function$/, 'her RESET ROLE is refused');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

$node->stop;
done_testing();
