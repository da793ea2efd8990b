# Regression (issue 11, adversarial review 210): the cross-partition UPDATE
# recogniser (plugin/partmove.c) used to drop the NEXT INSERT under the root
# after a DELETE flagged XLH_DELETE_IS_PARTITION_MOVE, assuming it was the
# moved row.  A BEFORE INSERT trigger on the destination partition may return
# NULL (the row vanishes) or insert other rows first; a genuine job was then
# lost.  Now an INSERT is the moved row only with the DELETE's identity
# outside the partition key, and (since 370) only as the very next change of
# the same (sub)transaction: a moved row after a trigger's INSERT is
# delivered (a duplicate).  Expected: the genuine INSERTs are jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partmove');
$node->safe_psql('postgres', q{
	CREATE TABLE j (id int, part int, note text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE j1 PARTITION OF j FOR VALUES IN (1);
	CREATE TABLE j2 PARTITION OF j FOR VALUES IN (2);
	-- rows moved into j2 with note 'discard' are discarded by a trigger
	CREATE FUNCTION discard() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN IF NEW.note = 'discard' THEN RETURN NULL; END IF; RETURN NEW; END $$;
	CREATE TRIGGER discard BEFORE INSERT ON j2 FOR EACH ROW EXECUTE FUNCTION discard();
	-- a row moved into j1 with note 'fanout' first enqueues a follow-up job
	CREATE FUNCTION fanout() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN IF NEW.note = 'fanout' THEN INSERT INTO j VALUES (NEW.id + 1000, 2, 'follow-up'); END IF;
	RETURN NEW; END $$;
	CREATE TRIGGER fanout BEFORE INSERT ON j1 FOR EACH ROW EXECUTE FUNCTION fanout();
	INSERT INTO j VALUES (1, 1, 'discard'), (2, 2, 'fanout');
	SELECT 'x' FROM pg_create_logical_replication_slot('pm', 'wal2queue');
});

# 1. the move is discarded by the destination's trigger; then a genuine job
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE j SET part = 2 WHERE id = 1;
	INSERT INTO j VALUES (7, 1, 'genuine');
	COMMIT;
});
my $out = $node->safe_psql('postgres',
	q{SELECT string_agg(data::json->'row'->>'note', ',') FROM pg_logical_slot_get_changes('pm', NULL, NULL, 'format', 'json', 'tables', 'public.j')});
is($out, 'genuine', 'an INSERT after a move discarded by a trigger is a job');

# 2. the destination's trigger inserts a follow-up job before the moved row
$node->safe_psql('postgres', q{UPDATE j SET part = 1 WHERE id = 2});
$out = $node->safe_psql('postgres',
	q{SELECT string_agg(data::json->'row'->>'note', ',') FROM pg_logical_slot_get_changes('pm', NULL, NULL, 'format', 'json', 'tables', 'public.j')});
is($out, 'follow-up,fanout',
	'a job inserted by a trigger during a move is a job, the moved row after it a duplicate');

$node->stop;
done_testing();
