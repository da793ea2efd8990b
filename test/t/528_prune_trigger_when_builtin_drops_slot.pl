# What: foreign_code() judges a DELETE trigger by the owners of the
# functions it names: those of superusers are trusted.  But a trigger's
# WHEN condition is an expression the table's owner wrote, evaluated in
# full as prune()'s caller, and built-in functions (owned by the bootstrap
# superuser) do what the caller may: here pg_drop_replication_slot(),
# which needs REPLICATION.  The owner of a job table (no superuser, no
# REPLICATION) gives it CREATE TRIGGER jobs_del BEFORE DELETE ON m.jobs
# FOR EACH ROW WHEN (pg_catalog.pg_drop_replication_slot('victim')::text
# = 'x') EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()
# (WHEN is then false, so the trigger function never runs).  Every
# function the trigger names is a superuser's: nothing is found.  pg_cron
# runs, as a superuser, prune(..., force => true): the DELETE evaluates
# WHEN and drops another tenant's replication slot "victim" (not undone by
# a rollback: its undelivered jobs are lost).  The same with a WHEN that
# calls lo_export() or pg_read_file(), or with a row-security policy's
# expression for a caller it applies to.
# Why: sql/src/28_foreign_code.sql foreign_code(): a trigger (and a
# policy, a rule) is judged by the owners of the functions pg_depend lists
# ("WHERE NOT r.rolsuper AND r.rolname <> current_user"), not by who wrote
# the expression: the table's owner.
# Expected: prune() skips a table with a DELETE trigger whose WHEN (or a
# rule, a policy that applies) another role wrote, whatever functions it
# calls; the slot "victim" still exists.
# Severity: high (a tenant drops other tenants' slots -- their undelivered
# jobs are lost -- or reads and writes server files, through the role
# running prune(), typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes the WHEN (old.id < 0), no
# function: passes (prune() deletes the row, the slot stays).
# Fixed: prune() acts on a table whose owner is no superuser only in a
# session of that owner (wal2queue.owner_session()): the superuser's call
# skips m.jobs with a WARNING; the trigger's WHEN is not evaluated, the
# other tenant's slot stays.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_trigger_when');
my $when = $ENV{W2Q_ATTACK_CONTROL} ? '(old.id < 0)'
  : q{(pg_catalog.pg_drop_replication_slot('victim')::text = 'x')};
my ($out, $err) = owner_code_fixture($node, extension => 1, sql => qq{
	CREATE TABLE m.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE TRIGGER jobs_del BEFORE DELETE ON m.jobs FOR EACH ROW WHEN $when
	  EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger();
	INSERT INTO m.jobs VALUES (1, 'q', '{}');});
is($err, '', "mallory's job table with a DELETE trigger whose WHEN calls built-in functions");
m_jobs_slot($node, 's528', q{
	SELECT pg_create_logical_replication_slot('victim', 'test_decoding');});
($out, $err) = as_mallory($node, q{SELECT pg_drop_replication_slot('victim')}, 1);
like($err, qr/ERROR/, 'mallory may not drop the slot itself');

# (the control: the owner's own session prunes, which the rule cannot abuse)
my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)},
	$ENV{W2Q_ATTACK_CONTROL} ? (extra_params => [ '-U', 'mallory' ]) : ());
diag("prune: rc $rc: $pout $perr");
is($pout, '1', 'prune() deletes the delivered row') if $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'victim'}), '1',
	"another tenant's slot was not dropped by the table owner's trigger as prune()'s caller");
$node->stop;
done_testing();
