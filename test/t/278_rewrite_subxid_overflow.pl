# One ALTER TABLE that rewrites a partitioned job table of 70 partitions
# gives its transaction 70 subtransaction xids: wal2queue_guard_rewrite fires
# once for each partition and record_guard_event()
# (sql/src/25_append_only.sql) writes guard_events in a BEGIN ... EXCEPTION
# block of its own each time.  Past 64 (PGPROC_MAX_CACHED_SUBXIDS) the
# backend's subxid cache overflows and, until the ALTER's transaction ends,
# every snapshot taken in the cluster is "suboverflowed" (visibility checks
# go through pg_subtrans): the known subtransaction slowdown, on every
# database, for the length of the rewrite.  The ordering the guard needs
# (an xid above every rewrite) takes one subtransaction after the last
# rewrite of the command, not one per partition.
# Expected: at most 64 subtransaction xids for one ALTER TABLE.
#
# Fixed: wal2queue_guard_rewrite only remembers the table (a
# transaction-local setting); wal2queue_guard_alter records every table of the
# command in ONE subtransaction at ddl_command_end, after the last rewrite.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('subxid');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE pj (id bigint, queue text, payload jsonb, created_at int) PARTITION BY RANGE (created_at);
	SELECT wal2queue.append_only('pj');
});
$node->safe_psql('postgres', q{
	DO $$ BEGIN
		FOR g IN 1..70 LOOP
			EXECUTE format('CREATE TABLE pj_%s PARTITION OF pj FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
		END LOOP;
	END $$;
	INSERT INTO pj SELECT g, 'q', '{}', g FROM generate_series(1, 70) g;
});
my $n = $node->safe_psql('postgres', q{
	BEGIN;
	ALTER TABLE pj ADD COLUMN shard float8 DEFAULT random();
	SELECT count(DISTINCT xmin::text) FROM wal2queue.guard_events WHERE event LIKE 'rewrite%';
	COMMIT;
});
note("subtransaction xids of one ALTER TABLE: $n");
cmp_ok($n, '<=', 64, 'one ALTER TABLE stays within the subxid cache (64)');
$node->stop;
done_testing();
