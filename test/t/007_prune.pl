# wal2queue.prune() never deletes an undelivered job: with the bridge
# stopped, new jobs survive any number of prunes; once the bridge has
# delivered and confirmed them, prune deletes them all.  send() jobs are
# delivered without leaving a row.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});

my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }),
	'bridge streaming');
# register the slot as the bridge does right after creating it (a bridge
# that registers it itself leaves a row here already; registering again only
# moves the horizon to now, before the first job)
$node->safe_psql('postgres', q{
	SELECT wal2queue.register_slot('jobs', 'public.jobs')
	 WHERE NOT EXISTS (SELECT FROM wal2queue.slots WHERE slot_name = 'jobs')});
is($node->safe_psql('postgres', 'SELECT slot_name, tables FROM wal2queue.slots'), 'jobs|public.jobs',
	'the slot is registered with its tables');

# prune until it deletes nothing more, nudging catalog_xmin along with checkpoints
sub prune_all
{
	my $total = 0;
	for my $i (1 .. 5)
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		$total += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')");
	}
	return $total;
}

$node->safe_psql('postgres',
	"INSERT INTO jobs (queue, payload) SELECT 'a', jsonb_build_object('n', g) FROM generate_series(1, 100) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '100' }), 'first batch delivered');
ok(wait_attested($node, 'jobs'), 'the bridge attests its slot');
my $deleted = 0;
ok(wait_until(sub { $deleted += prune_all(); $deleted == 100 }, 60), 'delivered rows are pruned');

is(stop_bridge($b) >> 8, 0, 'bridge stopped');
$node->safe_psql('postgres',
	"INSERT INTO jobs (queue, payload) SELECT 'b', jsonb_build_object('n', g) FROM generate_series(101, 250) g");
is(prune_all(), 0, 'with the bridge stopped, prune deletes none of the new jobs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '150', 'they are all still there');

# a job with no row at all, from a member of wal2queue_sender
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	SET ROLE app;
	SELECT wal2queue.send('emails', '{"to": "a@b.c"}'::jsonb, 'k1')});

# least privilege: the bridge needs LOGIN REPLICATION and USAGE on the
# extension's schema (to register and attest its slot) and nothing else
$node->safe_psql('postgres', 'CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge');
$b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs', '--status-interval', '1',
	'-d', $node->connstr('postgres') . ' user=wal2queue_bridge');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '250' }), 'the bridge catches up, as a role with only LOGIN REPLICATION');
ok(wait_attested($node, 'jobs'), 'and attests its slot as that role');
is($node->safe_psql('postgres', "SELECT usename FROM pg_stat_replication"), 'wal2queue_bridge',
	'the walsender runs as that role');
ok(wait_until(sub { redis($r, 'XLEN', 'emails') eq '1' }), 'the send() job arrives');
my $e = stream_entries($r, 'emails');
my %f = %{ $e->[0][1] };
ok(defined delete $f{_lsn} && defined delete $f{_seq}, 'with its _lsn and _seq');
is_deeply(\%f, { payload => '{"to": "a@b.c"}', key => 'k1' }, 'with its payload and key');
$deleted = 0;
ok(wait_until(sub { $deleted += prune_all(); $deleted == 150 }, 60), 'then prune deletes them all');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '0', 'the table is empty');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
