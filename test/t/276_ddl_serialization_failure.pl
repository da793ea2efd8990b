# An ALTER TABLE of a guarded job table fails with "could not serialize
# access due to concurrent update" in a REPEATABLE READ or SERIALIZABLE
# transaction (default_transaction_isolation = serializable, some migration
# tools) when another session rewrote or re-guarded the same table after
# the transaction's snapshot: the event trigger functions
# (sql/src/25_append_only.sql: record_guard_event()) write guard_events with
# INSERT ... ON CONFLICT DO UPDATE under the caller's snapshot, which
# refuses a row version committed after it.  PostgreSQL itself runs the
# ALTER (DDL reads the catalog with fresh snapshots).  Expected: the ALTER
# succeeds.
#
# Fixed: guard_events is insert-only (relid, seq): recording a change never
# updates a row another transaction wrote; older rows are deleted only in
# READ COMMITTED.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('rrddl');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	CREATE TABLE plain (id int);
});
my $n = 0;
for my $iso ('REPEATABLE READ', 'SERIALIZABLE')
{
	for my $t ('plain', 'jobs')
	{
		$n++;
		my $a = $node->background_psql('postgres', on_error_stop => 0);
		$a->query_safe("BEGIN ISOLATION LEVEL $iso");
		$a->query_safe(q{SELECT 1});
		$node->safe_psql('postgres', "ALTER TABLE $t ADD COLUMN x$n float8 DEFAULT random()");
		$a->{stderr} = '';
		$a->query("ALTER TABLE $t ADD COLUMN y$n float8 DEFAULT random()");
		is($a->{stderr}, '', "an ALTER TABLE of $t in a $iso transaction succeeds");
		$a->query(q{ROLLBACK});
		$a->quit;
	}
}
$node->stop;
done_testing();
