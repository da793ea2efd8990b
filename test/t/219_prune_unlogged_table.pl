# Fixed (was test/attack): rows of an UNLOGGED job table are never written to
# WAL, so no slot ever decodes them; yet prune() treats them as delivered by
# every slot whose tables option names the table (their xmin passes the
# horizon) and deletes them.  Nothing warns either: the bridge streams the
# table "fine" and delivers nothing (bridge/precheck.c does not look at
# relpersistence).  ALTER TABLE jobs SET UNLOGGED is a common "speed-up".
# Expected: prune deletes none of them (refuses an unlogged table).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pruneunlogged');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	SELECT wal2queue.create_job_table('public.other');
	ALTER TABLE jobs SET UNLOGGED;
});
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs,public.other',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 's'}) eq '1' }),
	'the bridge registered its slot');
$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
	INSERT INTO other (queue, payload) VALUES ('q', '{}');
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.other') eq '1' }), 'the slot streams');
my $deleted = 0;
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	my ($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
	$deleted += $out if $ret == 0 && $out ne '';
}
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
like($err, qr/table public\.jobs is unlogged, so no job counts as delivered/, 'prune refuses the unlogged table, even with force');
like(bridge_log($b), qr/selected tables are UNLOGGED.*public\.jobs/, 'the bridge warned at start');
is(redis($r, 'EXISTS', 'public.jobs'), '0', 'no row of the unlogged table was delivered');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '10', 'prune deleted none of them');
note("prune deleted $deleted rows");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
