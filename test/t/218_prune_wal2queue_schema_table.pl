# Fixed (was test/attack): the plugin and prune() disagree on what a slot
# without a tables option selects.  The plugin's default is "every table but
# those of schema wal2queue" (relinfo.c build_entry, FORMAT.md);
# wal2queue.tables_select(NULL, ...) says every table, schema wal2queue
# included.  A job table made in that schema (docs/extension.md mentions "any
# job tables you created in it") is never decoded by such a slot, yet prune()
# counts the slot as having delivered its rows and deletes them.  Expected:
# prune deletes none (it refuses: no registered slot selects the table).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prunew2qschema');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('wal2queue.jobs');
	SELECT wal2queue.create_job_table('public.jobs');
});
# a bridge with no --tables: every table (it registers its slot with tables NULL)
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 's'}) eq '1' }),
	'the bridge registered its slot');
$node->safe_psql('postgres', q{
	INSERT INTO wal2queue.jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
	INSERT INTO public.jobs (queue, payload) VALUES ('q', '{}');
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers public.jobs');
my ($ret, $out, $err);
my $deleted = 0;
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('wal2queue.jobs')});
	$deleted += $out if $ret == 0 && $out ne '';
}
is(redis($r, 'EXISTS', 'wal2queue.jobs'), '0', 'the slot delivered none of wal2queue.jobs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM wal2queue.jobs'), '10',
	'prune deleted none of the 10 undelivered rows');
note("prune deleted $deleted rows; last: $err");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
