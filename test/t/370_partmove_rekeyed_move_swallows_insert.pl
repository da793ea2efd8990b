# Regression (issue 11, adversarial review 370): a genuine INSERT was
# swallowed as the second half of a cross-partition UPDATE that changed the
# row's key.  partmove.c kept the moved row's DELETE pending with its OLD
# identity; the move's own INSERT carried the NEW key, did not match, and
# left the DELETE pending; a later INSERT in the transaction with the OLD
# key (UPDATE jm SET part = 2, id = 5 WHERE id = 1; INSERT INTO jm VALUES
# (1, 2, 'genuine')) matched, the DELETE's record had
# XLH_DELETE_IS_PARTITION_MOVE, and no job was made.
# Fixed: a move's DELETE and INSERT are one command, with no other change
# between them unless a trigger writes; so only the very next change of the
# transaction, if it is an INSERT under the same root in the same
# (sub)transaction, can be the moved row (w2q_moves_is_move() ends the
# pending DELETE whatever it answers; w2q_change() and w2q_message() end it
# at any other change).  The re-keyed moved row is delivered (a duplicate);
# the genuine INSERT is a job.  The control (W2Q_ATTACK_CONTROL=1) keeps the
# key: the moved row is still recognised.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partmove_rekey');
# the control: the UPDATE keeps the key
my $rekey = $ENV{W2Q_ATTACK_CONTROL} ? 'id = 1' : 'id = 5';
$node->safe_psql('postgres', qq{
	CREATE TABLE jm (id int, part int, note text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE jm1 PARTITION OF jm FOR VALUES IN (1);
	CREATE TABLE jm2 PARTITION OF jm FOR VALUES IN (2);
	INSERT INTO jm VALUES (1, 1, 'old');
	SELECT 'x' FROM pg_create_logical_replication_slot('pm', 'wal2queue');
	BEGIN;
	UPDATE jm SET part = 2, $rekey WHERE id = 1;
	INSERT INTO jm VALUES (1, 2, 'genuine') ON CONFLICT DO NOTHING;
	INSERT INTO jm VALUES (7, 1, 'genuine too');
	COMMIT;
});
my $jobs = $node->safe_psql('postgres', q~
	SELECT string_agg(data, E'\n') FROM pg_logical_slot_peek_changes('pm', NULL, NULL, 'format', 'json')~);
diag($jobs);
like($jobs, qr/"note":"genuine too"/, 'the other INSERT is a job (the control)');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	unlike($jobs, qr/"note":"old"/, 'the moved row (key kept) is recognised: no job');
}
else
{
	like($jobs, qr/"note":"genuine"/, 'the genuine INSERT that reuses the old key is a job');
}
$node->stop;
done_testing();
