# Regression (issue 11, adversarial review 369): the server crashed (signal
# 11) decoding a transaction that DELETEs a row of a partitioned table,
# changes the type of a key column, and INSERTs a row under the same root.
# partmove.c remembered the DELETE's old identity and, at the next INSERT
# under the root, deformed it with the root's CURRENT descriptor
# (same_identity(): heap_deform_tuple(moves->old_key, desc, ...)), checking
# only that the number of attributes was unchanged, which ALTER COLUMN ...
# TYPE keeps: the int4 1 was read as a text varlena (0x01: an external
# pointer) and detoast_attr() copied (size_t) -1 bytes.  A walsender crash
# restarts the cluster, and again at every reconnect of the bridge.
# Fixed: w2q_moves_delete() keeps a copy of the root's descriptor with the
# old identity; each tuple is deformed only with its own descriptor, and an
# INSERT under a descriptor whose columns differ (names, types, typmods,
# storage, dropped ones: same_columns()) is not the moved row (a move is one
# command: its DELETE and INSERT share a descriptor).  Expected: no crash,
# the INSERT is a job, and a move after the ALTER is still recognised.  (W2Q_ATTACK_CONTROL=1 leaves the ALTER out.)
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
	-- a move under the new descriptor is still recognised
	UPDATE mv SET k = 1 WHERE id = '1';
});
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FROM pg_logical_slot_peek_changes('pm', NULL, NULL, 'format', 'json')
	 WHERE data LIKE '%"table":"public.mv"%'~);
is($err, '', 'decoding the transaction raises nothing') or diag($err);
is($out, '1', 'the INSERT is a job, the later move is not');
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
