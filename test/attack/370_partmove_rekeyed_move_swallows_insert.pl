# Attack review 11: a genuine INSERT is swallowed as the second half of a
# cross-partition UPDATE that changed the row's key.  partmove.c keeps the
# moved row's DELETE pending with its OLD identity; the move's own INSERT
# carries the NEW key, does not match, and "leaves the DELETE pending"
# (it is delivered, as a duplicate: fine).  A later INSERT in the same
# transaction whose identity equals the OLD key is then taken for the moved
# row (same_identity(), and the DELETE's WAL record does have
# XLH_DELETE_IS_PARTITION_MOVE) and emits nothing: a genuine job is lost.
# Here: UPDATE jm SET part = 2, id = 5 WHERE id = 1; INSERT INTO jm VALUES
# (1, 2, 'genuine') -- re-key a row and reuse its key.  partmove.c's header
# names one case left (a moved row discarded by a trigger, then an INSERT
# of that identity); this one needs no trigger (a BEFORE INSERT trigger
# that changes the moved row's key does the same).
# Expected: the genuine INSERT is a job.  Where it cannot be told from a
# re-keyed moved row, deliver it (a duplicate) rather than drop it, and say
# so in partmove.c and FORMAT.md (e.g. forget the pending DELETE once an
# INSERT under the root did not match it and a later statement began --
# the moved row's INSERT belongs to the UPDATE's own command).
# Severity: high (a genuine job silently dropped); needs an UPDATE that
# moves and re-keys a row, so a table without the append-only guard.
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
