# Attack review 12 (issue 11 fixes of this session): a cross-partition
# UPDATE into an UNLOGGED partition makes the plugin swallow the next
# INSERT of the same identity: a genuine job is never delivered.
# Why: plugin/partmove.c takes an INSERT for the moved row when it is the
# very next change of the (sub)transaction after a DELETE whose WAL record
# has XLH_DELETE_IS_PARTITION_MOVE, under the same root, with the same
# identity outside the partition key.  A move into an UNLOGGED partition
# (PostgreSQL allows one under a logged root) writes the DELETE to WAL and
# the INSERT nowhere, so the next change the plugin sees is whatever the
# transaction does next.  The header names the discarding trigger as "the
# one case left"; this one needs no trigger: a re-queue pattern ("archive
# order 5's job, queue a new one for order 5" in one transaction) loses the
# new job.  (A foreign-table destination does the same.)
# Here: jobs (order_id, status, note) partitioned by LIST (status),
# jobs_new logged, jobs_archived UNLOGGED; in one transaction UPDATE ... SET
# status = 'archived' WHERE order_id = 5, then INSERT (5, 'new', 'second').
# Expected: that INSERT is a job (the moved row is not, it was not
# decoded).  W2Q_ATTACK_CONTROL=1 makes jobs_archived logged: the move's
# INSERT is recognised and the new row delivered.
# Severity: medium (a genuine job silently lost), needs an UNLOGGED (or
# foreign) partition as a move's destination and the same identity
# inserted next in the same transaction.
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
$node->stop;
done_testing();
