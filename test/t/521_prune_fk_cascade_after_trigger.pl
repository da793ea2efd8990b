# What: the owner of a job table (no superuser) references it from a table
# of its own, m.child, with ON DELETE CASCADE, and gives m.child an AFTER
# DELETE trigger calling its function.  pg_cron runs, as a superuser,
# prune(..., force => true): the DELETE cascades to m.child.  PostgreSQL
# runs the cascade's query as m.child's owner (ri_triggers.c), but the
# AFTER triggers it queues fire at the end of prune()'s DELETE, outside
# that switch, as the caller: the owner's function runs as the superuser
# (here: ALTER ROLE mallory SUPERUSER).  foreign_code() looks at the
# triggers of the job table's own tree only; m.child's constraint and
# trigger are not in it.  docs/extension.md "Another role's code" lists
# "what a foreign key's ON DELETE action runs on the referencing table" as
# not followed, but prune() still runs it: a documented hole, no refusal.
# Why: sql/src/28_foreign_code.sql foreign_code() (rels is the job table's
# partition tree; foreign keys that reference it, pg_constraint.confrelid,
# are not looked at); sql/src/30_prune.sql prune()/delete_delivered().
# Expected: prune() skips a table referenced by a foreign key with an ON
# DELETE action (CASCADE, SET NULL, SET DEFAULT) whose table has DELETE or
# UPDATE triggers, rules, defaults ... of another role (or any such
# foreign key), with a WARNING; mallory stays no superuser.
# Severity: high (privilege escalation from any job table's owner to the
# role running prune(), typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 leaves out m.child's trigger: passes (the
# cascade deletes the child row, no code of mallory's).
# Fixed: prune() acts on a table whose owner is no superuser only in a
# session of that owner (wal2queue.owner_session()): the superuser's call
# skips m.jobs with a WARNING, nothing deleted, no cascade fired.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_fk_cascade');
my $trigger = $ENV{W2Q_ATTACK_CONTROL} ? ''
  : 'CREATE TRIGGER child_del AFTER DELETE ON m.child FOR EACH ROW EXECUTE FUNCTION m.grab();';
my ($out, $err) = owner_code_fixture($node, extension => 1,
	sql => grab_function_sql('grab()', 'trigger', 'OLD') . qq{
	CREATE TABLE m.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE m.child (job_id bigint REFERENCES m.jobs ON DELETE CASCADE);
	$trigger
	INSERT INTO m.jobs VALUES (1, 'q', '{}');
	INSERT INTO m.child VALUES (1);});
is($err, '', "mallory's job table referenced by m.child ON DELETE CASCADE");
m_jobs_slot($node, 's521');

superuser_call_leaves_mallory($node, 'prune',
	q{SELECT wal2queue.prune('m.jobs', force => true)}, "the referencing table's");
$node->stop;
done_testing();
