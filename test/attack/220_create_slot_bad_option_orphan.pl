# ATTACK (fails on main): --create-slot with a plugin option the plugin
# refuses (a --tables pattern without a schema, an empty pattern) creates the
# slot first, fails to register it (register_slot refuses the pattern: only a
# warning), then exits 1 when START_REPLICATION is refused.  The slot stays:
# unregistered, so prune() refuses every job table in the database ("uses the
# plugin wal2queue but is not registered"), it holds back WAL, and the
# corrected command line finds it existing: it is never registered and the
# bridge now demands --accept-new-source.  Expected: a refused start leaves
# no slot behind (or validates the options before CREATE_REPLICATION_SLOT).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('createbadopt');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 's', '--create-slot', '--tables', 'jobs');
isnt($rc, 0, 'a --tables pattern without a schema is refused');
note($out);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's'}), '0',
	'the refused start leaves no slot behind');

# the operator corrects the pattern: the slot is registered and prune works
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 20), 'the corrected bridge delivers')
	or diag(bridge_log($b));
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 's'}), '1',
	'the corrected bridge\'s slot is registered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
