# prune() deletes rows no slot delivered after a superuser disabled the
# event triggers, rewrote the job table in a SAVEPOINT and enabled them
# again, all in one transaction.  guard_watch() (sql/src/25_append_only.sql)
# takes the xmin of the event triggers' pg_event_trigger rows as the floor
# for what they may have missed: the top-level xid, below the
# subtransaction xid the rewrite gave every row.  docs/extension.md's
# "cannot see" names a rewrite in ANOTHER transaction with a larger xid
# only; this one is in the enabling transaction itself.
# Expected: the 10 rows inserted before the slot stay.
#
# Fixed: as 272 -- the floor no longer trusts the event triggers' own
# change; the rewrite's new file was recorded by nothing, so prune() keeps
# every row of the table (NOTICE) until append_only().
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('evtsavepoint');
my $r = start_redis();
jobs_before_slot($node);
$node->safe_psql('postgres', q{
	BEGIN;
	ALTER EVENT TRIGGER wal2queue_guard_rewrite DISABLE;
	ALTER EVENT TRIGGER wal2queue_guard_alter DISABLE;
	SAVEPOINT s;
	ALTER TABLE jobs ADD COLUMN shard float8 DEFAULT random();
	RELEASE SAVEPOINT s;
	ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
	ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
	COMMIT;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.guard_events WHERE event LIKE 'rewrite%'}), '0',
	'no event trigger recorded it');

my $b = bridge_delivers_new_job($node, $r);
prune_keeps_undelivered($node);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
