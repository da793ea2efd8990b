# What: owner_session() lets maintenance act on a superuser's job table in
# any session ("its code is trusted"), and on another role's table in its
# owner's session, on the premise that only the owner writes the code that
# runs on the table.  But the TRIGGER privilege lets a role that does not
# own the table create triggers on it, and GRANT ALL (GRANT ALL ON ALL
# TABLES IN SCHEMA ... TO app, the common grant to an application role)
# includes it.  The superuser creates public.jobs and gives the application
# role mallory (no superuser) ALL on it; mallory adds a BEFORE DELETE
# statement trigger calling her function; the superuser's prune() (pg_cron)
# runs its DELETE (even one that deletes no row, as here: it returns 0) and
# with it mallory's function as a superuser, which makes mallory a
# superuser.  The same holds for a tenant's table in the tenant's own
# session: a TRIGGER grantee's code runs with the owner's rights.
# Why: sql/src/28_owner_session.sql owner_session(): case (a) trusts every
# trigger of a table whose owner is a superuser, and case (b) every trigger
# of the owner's table in the owner's session, without asking who created
# them (pg_trigger has no owner: a trigger's function, or the TRIGGER
# privilege held by other roles, says whose code it is); prune()
# (sql/src/30_prune.sql) then DELETEs.
# Expected: prune() skips (WARNING) a job table on which a role other than
# the caller's own session role (or a superuser) holds TRIGGER, or one with
# a trigger whose function another role owns; mallory stays no superuser.
# Severity: high (any role granted ALL on a superuser's job table becomes
# superuser at the next scheduled prune(); silent).
# Reliability: deterministic; fails its last check every run on main at
# 95d359f.
# Control: W2Q_ATTACK_CONTROL=1 grants mallory SELECT, INSERT only (no
# TRIGGER): her CREATE TRIGGER is refused and the check passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_trigger_priv');
owner_code_fixture($node, extension => 1);
my $grant = $control ? 'SELECT, INSERT' : 'ALL';
$node->safe_psql('postgres', qq{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	GRANT $grant ON public.jobs TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s541', 'public.jobs');});
my ($out, $err) = as_mallory($node, grab_function_sql('grab()', 'trigger', 'NULL') . q{
	CREATE TRIGGER jobs_grab BEFORE DELETE ON public.jobs
	  FOR EACH STATEMENT EXECUTE FUNCTION m.grab();
	INSERT INTO public.jobs VALUES (1, 'q', '{}');}, 1);
diag("mallory: $out $err");
if ($control)
{
	like($err, qr/permission denied/, 'without TRIGGER mallory cannot add a trigger');
}
else
{
	is($err, '', 'mallory (GRANT ALL) adds a trigger to the superuser\'s job table');
}
$node->safe_psql('postgres', q{INSERT INTO public.jobs VALUES (2, 'q', '{}')}) if $control;
my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
diag("prune: rc $rc: $pout $perr");
is($rc, 0, 'the superuser\'s prune() runs');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"no code of a role that does not own the table ran as prune()'s caller (mallory is no superuser)");
$node->stop;
done_testing();
