# What: prune() takes any relation.  The owner of the "job table" the DBA
# was asked to prune (no superuser) makes it a view over its real table,
# with a WHERE clause calling its function and columns named ctid and xmin
# (a view may use those names): CREATE VIEW m.jobs AS SELECT t.ctid AS
# ctid, t.xmin AS xmin, t.* FROM m.t t WHERE m.f(t.id).  The DBA creates
# the slot for m.jobs and pg_cron runs, as a superuser, prune('m.jobs',
# force => true).  foreign_code() finds nothing: the view has no index,
# constraint, trigger, policy or ON DELETE rule; its query is its ON
# SELECT rule ("_RETURN", ev_type '1'), which foreign_code() does not look
# at.  delete_delivered()'s DELETE FROM ONLY m.jobs is rewritten onto m.t
# with the view's qual, and m.f() runs as the superuser (here: ALTER ROLE
# mallory SUPERUSER).  A view's functions run as the querying role, the
# table access alone is checked as the view's owner.
# Why: sql/src/30_prune.sql prune() (no check of the relation's kind:
# job_leaves() returns the view itself, relkind 'v' <> 'p');
# sql/src/28_foreign_code.sql foreign_code() (pg_rewrite looked at only
# for ev_type '4', ON DELETE).
# Expected: prune() refuses a relation that is not a table (ERROR naming
# the relkind, as maintain_partitions() refuses a table not partitioned by
# range), or foreign_code() finds the view's functions; mallory stays no
# superuser.
# Severity: medium (privilege escalation from a tenant who hands the DBA
# a view as its job table, prune() by a superuser from pg_cron; shown
# with force => true, as 510 runs it).
# Control: W2Q_ATTACK_CONTROL=1 leaves out the view's WHERE clause:
# passes (prune() runs, no code of mallory's).
# Fixed: prune() (maintain_partitions(), create_partitions()) refuse a
# relation that is neither a table nor a partitioned table with an ERROR
# naming it ("wal2queue.prune: m.jobs is not a table", relkind 'v'); and a
# table of mallory's is skipped anyway (wal2queue.owner_session()).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_view_qual');
my $where = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'WHERE m.f(t.id)';
my ($out, $err) = owner_code_fixture($node, extension => 1,
	sql => grab_function_sql('f(bigint)', 'boolean', 'true') . qq{
	CREATE TABLE m.t (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE VIEW m.jobs AS SELECT t.ctid AS ctid, t.xmin AS xmin, t.* FROM m.t t $where;
	INSERT INTO m.t VALUES (1, 'q');});
is($err, '', "mallory's \"job table\" m.jobs is a view");
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s526', 'm.jobs')});

my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)});
diag("prune: rc $rc: $pout $perr");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"no code of the view's owner ran as prune()'s caller (mallory is no superuser)");
$node->stop;
done_testing();
