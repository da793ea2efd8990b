# Attack review 9, fixed: any role recorded the guard state of a table it
# did not own, bypassing record_guard()'s owner check.  guard_on_alter()
# (SECURITY DEFINER, sql/src/25_append_only.sql) recorded the tables listed
# in the session setting wal2queue_guard.rewritten, which guard_on_rewrite()
# filled -- but any session could SET that placeholder itself: a role
# without USAGE on schema wal2queue set it to the OID of another role's job
# table and ran ALTER TABLE on a table of its own, and the event trigger
# recorded the victim's guard state as superuser (acknowledging a guard
# change made without the event triggers, 'unrecorded', for the owner); a
# value that was not an OID ('garbage') made every ALTER TABLE of that
# session fail inside the event trigger.
# Fix: the rewritten tables go from guard_on_rewrite() to guard_on_alter()
# through the unlogged table wal2queue.guard_rewrites (backend pid, xid,
# table), which only the extension's owner writes (both functions are
# SECURITY DEFINER); guard_on_alter() takes the rows of its own backend and
# transaction (taken_rewrites()), ignores and deletes any other of its
# backend, and reads no setting.
# Expected: the table stays 'unrecorded'; the setting is not read; a
# stranger cannot write guard_rewrites; a real rewrite is still recorded.
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
($ret, $out, $err) = $node->psql('postgres', sprintf(
	q{SET ROLE alice; INSERT INTO wal2queue.guard_rewrites VALUES (pg_backend_pid(), pg_current_xact_id(), %s)},
	$node->safe_psql('postgres', q{SELECT 'public.jobs'::regclass::oid})));
isnt($ret, 0, 'alice may not write wal2queue.guard_rewrites');
is($node->safe_psql('postgres', q{SELECT wal2queue.guard_problem('public.jobs')}), 'unrecorded',
	'still unrecorded');

# a row another transaction of this backend left (the ddl_command_end
# trigger disabled) is not taken for this transaction's rewrite
is($node->safe_psql('postgres', q{
	BEGIN;
	ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
	ALTER TABLE jobs ADD COLUMN r float8 DEFAULT random();
	ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
	COMMIT;
	SELECT count(*) FROM wal2queue.guard_rewrites;
	ALTER TABLE a1 ADD COLUMN u int;
	SELECT wal2queue.guard_problem('public.jobs');
}), "1\nunrecorded", 'a rewrite another transaction left in guard_rewrites is not recorded by a later one');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.guard_rewrites}), '0',
	'and its row was deleted');

# the owner's own rewrite is recorded, as before
$node->safe_psql('postgres', q{ALTER TABLE jobs ADD COLUMN r2 float8 DEFAULT random()});
is($node->safe_psql('postgres', q{SELECT wal2queue.guard_problem('public.jobs') IS NULL}), 't',
	'a rewrite of the table is recorded by the event triggers');
is($node->safe_psql('postgres', q{
	SELECT event FROM wal2queue.guard_events WHERE relid = 'public.jobs'::regclass ORDER BY seq DESC LIMIT 1}),
	'ALTER TABLE (rewrite)', 'as a rewrite');
$node->stop;
done_testing();
