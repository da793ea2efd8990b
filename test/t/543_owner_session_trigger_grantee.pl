# What: the documented way to maintain a tenant's job table -- run prune()
# in a session of its owner (owner_session() case (b), docs/extension.md
# "Run the maintenance of a table owned by an ordinary role as that role")
# -- runs the code of any role holding TRIGGER on the table with the
# owner's full rights, in the owner's own session.  Tenant bob owns
# bob.jobs and grants ALL on it to his writer role mallory; mallory adds a
# BEFORE DELETE statement trigger; bob's scheduled prune() runs it as bob
# (even a prune() that deletes nothing: a statement trigger), and it copies
# bob's private table bob.secret into mallory's m.loot.  Any right of bob
# is mallory's this way (a write, a DROP, a send() if bob is a sender).
# Why: sql/src/28_owner_session.sql owner_session(): "(b) the session is
# the owner's own" gives the owner's code no more rights than the owner
# has, but a trigger is not necessarily the owner's code (the TRIGGER
# privilege; pg_trigger records no creator); prune() (sql/src/30_prune.sql)
# then DELETEs.  Same root as test/attack/541 (case (a)).
# Expected: prune() skips (WARNING) a job table on which a role other than
# its owner holds TRIGGER, or whose triggers call functions of a role other
# than the owner; nothing of bob.secret reaches mallory.
# Severity: medium-high (a role with ALL on a tenant's job table takes over
# the tenant at the next scheduled prune(); silent).
# Reliability: deterministic; fails its last check every run on main at
# 95d359f.
# Control: W2Q_ATTACK_CONTROL=1 grants mallory SELECT, INSERT only: her
# CREATE TRIGGER is refused and the check passes.
# Fixed: owner_session() asks owner_triggers() (see test/t/541): bob's
# own prune() skips bob.jobs with a WARNING naming mallory and the REVOKE
# while she holds TRIGGER, and naming her trigger and m.take() once it is
# revoked; with her trigger dropped it prunes.  A role that is a member of
# bob (it can act as bob anyway) may hold TRIGGER and own the function of
# a trigger: bob's prune() runs it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('owner_trigger_grantee');
owner_code_fixture($node, extension => 1);
my $grant = $control ? 'SELECT, INSERT' : 'ALL';
$node->safe_psql('postgres', q{CREATE ROLE bob LOGIN;
	CREATE SCHEMA bob AUTHORIZATION bob;
	GRANT USAGE ON SCHEMA wal2queue TO bob;});
my $bob = sub {
	my ($sql) = @_;
	return run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=bob', '-c', $sql ]);
};
my ($out, $err) = $bob->(qq{CREATE TABLE bob.jobs (id bigint PRIMARY KEY, queue text NOT NULL,
	  payload jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE bob.secret (s text);
	INSERT INTO bob.secret VALUES ('bob-only');
	GRANT USAGE ON SCHEMA bob TO mallory;
	GRANT $grant ON bob.jobs TO mallory;});
is($err, '', "bob's job table, $grant granted to mallory");
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('bob.jobs');
	SELECT wal2queue.create_slot('s543', 'bob.jobs');});
($out, $err) = as_mallory($node, q{CREATE TABLE m.loot (s text);
	GRANT INSERT ON m.loot TO bob;
	CREATE FUNCTION m.take() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		IF current_user = 'bob' THEN
			INSERT INTO m.loot SELECT s FROM bob.secret;
		END IF;
		RETURN NULL;
	END $f$;
	GRANT EXECUTE ON FUNCTION m.take() TO bob;
	GRANT USAGE ON SCHEMA m TO bob;});
diag("mallory: $out $err");
($out, $err) = as_mallory($node, q{CREATE TRIGGER jobs_take BEFORE DELETE ON bob.jobs FOR EACH STATEMENT EXECUTE FUNCTION m.take();}, 1);
diag("mallory: $out $err");
($out, $err) = $bob->(q{SELECT wal2queue.prune('bob.jobs', force => true)});
diag("bob's prune(): $out $err");
unlike($err, qr/ERROR/, "bob's prune() in his own session runs");
($out, $err) = as_mallory($node, q{SELECT count(*) FROM m.loot});
is($out, '0', "no code of a role that does not own bob.jobs ran with bob's rights (mallory's m.loot holds nothing of bob.secret)");
if ($control)
{
	$node->stop;
	done_testing();
	exit 0;
}
($out, $err) = $bob->(q{SELECT wal2queue.prune('bob.jobs', force => true)});
like($err, qr/table bob\.jobs is skipped: mallory may create triggers on it.*\n.*\n.*REVOKE TRIGGER ON bob\.jobs FROM mallory;/,
	"bob's prune() skips his table: the WARNING names mallory and the REVOKE");
is($out, '0', '0 rows pruned');
$bob->(q{REVOKE TRIGGER ON bob.jobs FROM mallory});
($out, $err) = $bob->(q{SELECT wal2queue.prune('bob.jobs', force => true)});
like($err, qr/table bob\.jobs is skipped: its trigger jobs_take uses function m\.take\(\) of role mallory, which is not its owner bob/,
	'TRIGGER revoked: her trigger still makes it skip');
($out, $err) = as_mallory($node, q{SELECT count(*) FROM m.loot});
is($out, '0', 'm.loot still holds nothing');

# bob's member bob_dev holds TRIGGER and owns the trigger's function: it
# can act as bob anyway, so bob's prune() runs its trigger
($out, $err) = $bob->(q{DROP TRIGGER jobs_take ON bob.jobs;});
is($err, '', "bob drops mallory's trigger");
$node->safe_psql('postgres', q{CREATE ROLE bob_dev LOGIN IN ROLE bob;
	CREATE SCHEMA dev AUTHORIZATION bob_dev;});
($out, $err) = $bob->(q{GRANT TRIGGER ON bob.jobs TO bob_dev;
	CREATE TABLE bob.ran (who name);
	GRANT INSERT ON bob.ran TO bob_dev;});
is($err, '', 'bob grants TRIGGER to his member bob_dev');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' user=bob_dev', '-c',
	q{CREATE FUNCTION dev.note() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN INSERT INTO bob.ran VALUES (current_user); RETURN NULL; END $f$;
	CREATE TRIGGER jobs_note BEFORE DELETE ON bob.jobs FOR EACH STATEMENT EXECUTE FUNCTION dev.note();} ]);
is($err, '', "bob_dev adds a trigger calling its function");
($out, $err) = $bob->(q{SELECT wal2queue.prune('bob.jobs', force => true)});
unlike($err, qr/WARNING/, "bob's prune() does not skip the table for his member's trigger");
is($node->safe_psql('postgres', 'SELECT who FROM bob.ran'), 'bob', "its DELETE ran the member's trigger as bob");
$node->stop;
done_testing();
