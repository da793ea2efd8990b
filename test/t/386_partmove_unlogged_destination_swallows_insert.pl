# Fixed: a cross-partition UPDATE into an UNLOGGED partition made the
# plugin swallow the next INSERT of the same identity (attack review 12).
# The move writes its DELETE (flagged XLH_DELETE_IS_PARTITION_MOVE) and no
# INSERT, so plugin/partmove.c took the transaction's next INSERT with the
# same identity ("archive order 5's job, queue a new one") for the moved row
# and dropped a genuine job.  Now partmove.c (root_has_unlogged_partition())
# pairs a move-flagged DELETE with nothing when the root has any partition,
# at any level, that is UNLOGGED or foreign, asked from the catalogs at each
# DELETE (kept for the last root until any relcache invalidation): the
# next INSERT is a job.  The price, checked here too: a genuine
# move into a logged partition of such a root is delivered as a new job (a
# duplicate, plugin/FORMAT.md).
# Here: jobs (order_id, status, note) partitioned by LIST (status),
# jobs_new logged, jobs_archived UNLOGGED; in one transaction UPDATE ... SET
# status = 'archived' WHERE order_id = 5, then INSERT (5, 'new', 'second').
# Expected: that INSERT is a job (the moved row is not, it was not
# decoded).  W2Q_ATTACK_CONTROL=1 makes jobs_archived logged: the move's
# INSERT is recognised and the new row delivered.  Fails without the fix
# (the first transaction delivers nothing).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partmove_unlogged');
my $unlogged = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'UNLOGGED';
$node->safe_psql('postgres', qq{
	CREATE TABLE jobs (order_id int NOT NULL, status text NOT NULL, note text,
	                   PRIMARY KEY (order_id, status)) PARTITION BY LIST (status);
	CREATE TABLE jobs_new PARTITION OF jobs FOR VALUES IN ('new');
	CREATE $unlogged TABLE jobs_archived PARTITION OF jobs FOR VALUES IN ('archived');
	INSERT INTO jobs VALUES (5, 'new', 'first');
	SELECT 'x' FROM pg_create_logical_replication_slot('w', 'wal2queue');
	BEGIN;
	UPDATE jobs SET status = 'archived' WHERE order_id = 5;
	INSERT INTO jobs VALUES (5, 'new', 'second');
	COMMIT;
});
is($node->safe_psql('postgres', q{SELECT relpersistence FROM pg_class WHERE relname = 'jobs_archived'}),
	$ENV{W2Q_ATTACK_CONTROL} ? 'p' : 'u', 'the destination partition\'s persistence');
my $jobs = $node->safe_psql('postgres', q~
	SELECT coalesce(string_agg(data::json->'row'->>'note', ','), '')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json', 'tables', 'public.jobs')
	 WHERE data::json->>'table' = 'public.jobs'~);
is($jobs, 'second', 'the INSERT after the move is delivered as a job');

# a genuine move into a logged partition of a root with an UNLOGGED one:
# delivered as a new job (a duplicate), never paired
$node->safe_psql('postgres', q{
	CREATE TABLE moves (id int, part int, note text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE moves_1 PARTITION OF moves FOR VALUES IN (1);
	CREATE TABLE moves_2 PARTITION OF moves FOR VALUES IN (2);
	CREATE UNLOGGED TABLE moves_3 PARTITION OF moves FOR VALUES IN (3);
	INSERT INTO moves VALUES (7, 1, 'moved');
	UPDATE moves SET part = 2 WHERE id = 7;
});
my $moved = $node->safe_psql('postgres', q~
	SELECT coalesce(string_agg(data::json->'row'->>'note', ','), '')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json', 'tables', 'public.moves')
	 WHERE data::json->>'table' = 'public.moves'~);
is($moved, 'moved,moved',
	'a move into a logged partition of a root with an UNLOGGED one is a new job');

# the answer is cached per root until a relcache invalidation: a move seen
# while all partitions were logged, then an UNLOGGED partition attached
$node->safe_psql('postgres', q{
	CREATE TABLE q (id int, st text, note text, PRIMARY KEY (id, st)) PARTITION BY LIST (st);
	CREATE TABLE q_new PARTITION OF q FOR VALUES IN ('new');
	CREATE TABLE q_done PARTITION OF q FOR VALUES IN ('done');
	INSERT INTO q VALUES (1, 'new', 'a');
	UPDATE q SET st = 'done' WHERE id = 1;
	CREATE UNLOGGED TABLE q_archived (id int NOT NULL, st text NOT NULL, note text);
	ALTER TABLE q ATTACH PARTITION q_archived FOR VALUES IN ('archived');
	BEGIN;
	UPDATE q SET st = 'archived' WHERE id = 1;
	INSERT INTO q VALUES (1, 'done', 'b');
	COMMIT;
});
my $q = $node->safe_psql('postgres', q~
	SELECT coalesce(string_agg(data::json->'row'->>'note', ','), '')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json', 'tables', 'public.q')
	 WHERE data::json->>'table' = 'public.q'~);
is($q, 'a,b', 'a move before an UNLOGGED partition was attached is paired, the INSERT after one is a job');
$node->stop;
done_testing();
