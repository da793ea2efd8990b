# Attack review 9: any role records the guard state of a table it does not
# own, bypassing record_guard()'s owner check.  guard_on_alter() (SECURITY
# DEFINER, sql/src/25_append_only.sql) records the tables listed in the
# session setting wal2queue_guard.rewritten, which guard_on_rewrite() fills
# -- but any session can SET that placeholder itself.  A role without USAGE
# on schema wal2queue (record_guard() refuses it) sets it to the OID of
# another role's job table and runs ALTER TABLE on a table of its own: the
# event trigger records the victim's guard state as superuser.  After a
# guard change made without the event triggers (guard_problem 'unrecorded',
# prune() refuses the table until its OWNER runs append_only()), a stranger
# thus acknowledges it for the owner; a value that is not an OID ('garbage')
# makes every ALTER TABLE / CREATE TABLE of that session fail inside the
# event trigger.  Low: a record only raises the floor, no undelivered row
# is deleted by it.
# Expected: the table stays 'unrecorded'; the setting is not trusted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('guard_guc');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	CREATE ROLE alice LOGIN;
	CREATE TABLE a1 (id int); ALTER TABLE a1 OWNER TO alice;
});
# a guard change the event triggers did not see
$node->safe_psql('postgres', q{
	ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
	ALTER TRIGGER wal2queue_append_only ON jobs RENAME TO g2;
	ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
});
is($node->safe_psql('postgres', q{SELECT wal2queue.guard_problem('public.jobs')}), 'unrecorded',
	'the change is unrecorded: prune() needs the owner to run append_only()');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE alice; SELECT wal2queue.record_guard('public.jobs', 'x')});
isnt($ret, 0, 'alice may not call record_guard() on public.jobs');
$node->safe_psql('postgres', q{
	SET ROLE alice;
	SELECT set_config('wal2queue_guard.rewritten', 'public.jobs'::regclass::oid::text, false);
	ALTER TABLE a1 ADD COLUMN w int;
});
is($node->safe_psql('postgres', q{SELECT wal2queue.guard_problem('public.jobs')}), 'unrecorded',
	'a stranger cannot record the guard of public.jobs through wal2queue_guard.rewritten');
($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE alice; SET wal2queue_guard.rewritten = 'garbage'; ALTER TABLE a1 ADD COLUMN v int});
is($ret, 0, 'a stray value of the setting does not make ordinary DDL fail') or diag($err);
$node->stop;
done_testing();
