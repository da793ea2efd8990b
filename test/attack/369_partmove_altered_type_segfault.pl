# Attack review 11: the server crashes (signal 11) decoding a transaction
# that DELETEs a row of a partitioned table, changes the type of a key
# column, and INSERTs a row under the same root.  partmove.c remembers the
# DELETE's old identity (w2q_moves_delete: the tuple and moves->natts) and
# at the next INSERT under the root deforms it with the root's CURRENT
# descriptor (same_identity(): heap_deform_tuple(moves->old_key, desc, ...));
# the only check is that the number of attributes is unchanged, which
# ALTER COLUMN ... TYPE keeps.  The int4 1 of the old tuple is read as a
# text varlena (first byte 0x01: an external pointer), same_value() detoasts
# it, and detoast_attr() copies (size_t) -1 bytes: SIGSEGV in the
# walsender, postmaster restarts every backend, and the record is before the
# confirmed position: every reconnect of the bridge crashes the server
# again.  Any role that owns a partitioned table that a slot selects (the
# default tables option: any) can do it.
# Expected: the server does not crash; the INSERT is delivered as a job (a
# pending DELETE is forgotten when the table's descriptor changed: compare
# the attributes' types, or reset the pending DELETE on a relcache
# invalidation of its root).
# Severity: critical (crash loop of the whole cluster).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partmove_segv');
my $alter = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'ALTER TABLE mv ALTER COLUMN id TYPE text;';
$node->safe_psql('postgres', qq{
	CREATE TABLE mv (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
	CREATE TABLE mv1 PARTITION OF mv FOR VALUES IN (1);
	CREATE TABLE mv2 PARTITION OF mv FOR VALUES IN (2);
	INSERT INTO mv VALUES (1, 1);
	SELECT 'x' FROM pg_create_logical_replication_slot('pm', 'wal2queue');
	BEGIN;
	DELETE FROM mv WHERE id = 1;
	$alter
	INSERT INTO mv VALUES ('1', 2);
	COMMIT;
});
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FROM pg_logical_slot_peek_changes('pm', NULL, NULL, 'format', 'json')
	 WHERE data LIKE '%"table":"public.mv"%'~);
is($err, '', 'decoding the transaction raises nothing') or diag($err);
is($out, '1', 'the INSERT is a job');
# the postmaster logs a crashed child when it reaps it: give it time
sleep 3;
my ($crash) = slurp_file($node->logfile) =~ /^(.*terminated by signal.*)$/m;
ok(!defined $crash, 'no server process crashed') or diag($crash);
# the test framework sets restart_after_crash = off: after a crash the
# postmaster exits, and stop() would bail out of the whole run
sleep 2;
if (kill(0, $node->{_pid} // 0))
{
	$node->stop;
}
else
{
	$node->{_pid} = undef;
}
done_testing();
