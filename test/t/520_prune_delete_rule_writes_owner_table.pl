# What: the owner of a job table (no superuser) gives it an ON DELETE rule
# whose action only inserts into another table of its own, m.audit
# (CREATE RULE jobs_del AS ON DELETE TO m.jobs DO ALSO INSERT INTO m.audit
# VALUES (old.id)): the rule calls no function, so foreign_code() finds
# nothing (it follows pg_depend of the rule to pg_proc and pg_operator
# only).  m.audit has a BEFORE INSERT trigger calling the owner's
# function.  pg_cron runs, as a superuser, prune(..., force => true): its
# DELETE fires the rule, the rule's INSERT fires m.audit's trigger, and the
# owner's function runs as the superuser (here: ALTER ROLE mallory
# SUPERUSER).  The same holds for anything the rule's action runs on
# another table: its column defaults, index expressions, CHECK
# constraints, its own rules.
# Why: sql/src/28_foreign_code.sql foreign_code(): the pg_rewrite branch
# (WHERE deleting AND w.ev_type = '4') looks at the functions the rule
# names, not at the tables its action writes (their triggers, defaults,
# indexes, rules); sql/src/30_prune.sql prune() then runs
# delete_delivered() as the caller.
# Expected: prune() skips a table with an ON DELETE rule whose action
# touches another table with code of another role (or any ON DELETE rule of
# another role: the rule's action is that role's query), with a WARNING;
# mallory stays no superuser.
# Severity: high (privilege escalation from any job table's owner to the
# role running prune(), typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 leaves out m.audit's trigger: passes (the
# rule runs, no code of mallory's).
# Fixed: prune() acts on a table whose owner is no superuser only in a
# session of that owner (wal2queue.owner_session()): the superuser's call
# skips m.jobs with a WARNING naming table, owner and caller, 0 deleted,
# no rule or trigger of mallory's run.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_rule_owner');
my $trigger = $ENV{W2Q_ATTACK_CONTROL} ? ''
  : 'CREATE TRIGGER audit_ins BEFORE INSERT ON m.audit FOR EACH ROW EXECUTE FUNCTION m.grab();';
my ($out, $err) = owner_code_fixture($node, extension => 1,
	sql => grab_function_sql('grab()', 'trigger', 'NEW') . qq{
	CREATE TABLE m.audit (id bigint);
	$trigger
	CREATE TABLE m.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE RULE jobs_del AS ON DELETE TO m.jobs DO ALSO INSERT INTO m.audit VALUES (old.id);
	INSERT INTO m.jobs VALUES (1, 'q', '{}');});
is($err, '', "mallory's job table with an ON DELETE rule writing m.audit");
m_jobs_slot($node, 's520');

my ($rc, $pout, $perr) = superuser_call_leaves_mallory($node, 'prune',
	q{SELECT wal2queue.prune('m.jobs', force => true)}, "the table's");
like($perr, qr/WARNING:  wal2queue\.prune: table m\.jobs is skipped: it is owned by role mallory, and this call runs as role postgres/,
	'a WARNING names the table, its owner and the caller');
like($perr, qr/HINT:  Run it in a session of role mallory, e\.g\. with pg_cron: SELECT cron\.schedule_in_database\(/,
	'and its HINT gives the pg_cron recipe');
# the owner's own session: since 677 a table whose rule names another table
# is skipped there too (the other table's triggers, rules and keys are not
# followed), with a WARNING naming the rule and a HINT to use a trigger
($out, $err) = as_mallory($node, q{SELECT wal2queue.prune('m.jobs', force => true)}, 1);
like("$out|$err", qr/^0\|WARNING:  wal2queue\.prune: table m\.jobs is skipped: rule jobs_del of table m\.jobs names table m\.audit/,
	"mallory's own prune() skips it, naming the rule (test/t/677)");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is still no superuser');
$node->stop;
done_testing();
