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
# Expected (held on main at 95d359f for BEFORE triggers): prune() deletes
# the jobs; the cascade and its trigger run as mallory (session_user the
# superuser's), her RESET ROLE is refused, mallory is no superuser.
# Changed with test/t/580's fix: that holds for the action's query and the
# BEFORE triggers it fires only.  ri_triggers.c runs the query with
# fire_triggers = false: the AFTER triggers it queues (an AFTER DELETE
# trigger on m.child) fire at the end of prune()'s DELETE, outside the
# user-id change, as prune()'s caller -- the superuser (on main at
# 8590e537 that trigger made mallory a superuser; a scratch cluster shows
# BEFORE ROW as mallory, AFTER ROW and AFTER STATEMENT as postgres).  So
# owner_cascades() refuses a table the DELETE writes whose owner is not
# trusted with the caller's rights (mallory's m.child): prune() skips the
# job table with a WARNING naming m.child, its key and the REVOKE; her
# triggers do not run.  Following the HINT (the keys dropped, REFERENCES
# revoked), prune() deletes the jobs.
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
	CREATE TRIGGER child_after AFTER DELETE ON m.child FOR EACH ROW EXECUTE FUNCTION m.ri();
	INSERT INTO m.child VALUES (1);
	INSERT INTO m.child2 VALUES (2);});
is($err, '', "mallory's tables reference the superuser's job table ON DELETE CASCADE and SET NULL");

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
is($rc, 0, "the superuser's prune() runs");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: table m\.child2? \(the DELETE writes it through its foreign key child2?_job_id_fkey as role mallory\) is owned by role mallory, which can add triggers to it that would run as role postgres/,
	"it skips the job table: mallory's table is written by the cascade, and her AFTER trigger would run as the caller");
like($perr, qr/HINT:  Drop that foreign key .* revoke the REFERENCES privilege on the job table from role mallory/, 'naming the fix');
is($pout, '0', 'it deletes nothing');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log}), '0', "none of mallory's triggers ran");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

# the HINT followed: the keys dropped, REFERENCES revoked
$node->safe_psql('postgres', q{ALTER TABLE m.child DROP CONSTRAINT child_job_id_fkey;
	ALTER TABLE m.child2 DROP CONSTRAINT child2_job_id_fkey;
	REVOKE REFERENCES ON public.jobs FROM mallory;});
($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: rc $rc: $pout $perr");
unlike($perr, qr/WARNING/, 'then it runs without a WARNING');
is($pout, '3', 'and deletes the three jobs');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

$node->stop;
done_testing();
