# wal2queue.prune() after the bridge's slot is dropped and re-created
# (--drop-slot, then --create-slot) while jobs wait undelivered: the new
# slot's catalog_xmin passes the waiting rows at once, but it never delivers
# them, so prune must not delete them (issue 11, item 2).  The bridge's
# slot calls are made as the bridge makes them: on a replication connection
# of a LOGIN REPLICATION role, CREATE_REPLICATION_SLOT then
# wal2queue.register_slot(), pg_drop_replication_slot then
# wal2queue.unregister_slot().
#
# Also: wal2queue.status answers on a standby (no pg_current_wal_lsn()).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('recreate');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge;
});

# run SQL and replication commands on one replication connection of the
# bridge's role, as the bridge does
sub as_bridge
{
	my (@cmds) = @_;
	my $connstr = $node->connstr('postgres') . ' user=wal2queue_bridge replication=database';
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $connstr, map { ('-c', $_) } @cmds ]);
	die "as_bridge: $err" if $err =~ /ERROR/;
	return $out;
}

sub create_slot
{
	as_bridge('CREATE_REPLICATION_SLOT jobs LOGICAL wal2queue NOEXPORT_SNAPSHOT',
		q{SELECT wal2queue.register_slot('jobs', 'public.jobs')});
}

sub drop_slot
{
	as_bridge('DROP_REPLICATION_SLOT jobs', q{SELECT wal2queue.unregister_slot('jobs')});
}

# prune until it deletes nothing more, nudging catalog_xmin along with checkpoints
sub prune_all
{
	my ($force) = @_;
	my $total = 0;
	for my $i (1 .. 5)
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		$total += $node->safe_psql('postgres',
			"SELECT wal2queue.prune('public.jobs', force => " . ($force ? 'true' : 'false') . ')');
	}
	return $total;
}

sub bridge
{
	return start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs',
		'--status-interval', '1', '-d', $node->connstr('postgres') . ' user=wal2queue_bridge', @_);
}

sub jobs { return $node->safe_psql('postgres', 'SELECT count(*) FROM jobs') }

create_slot();
is($node->safe_psql('postgres', 'SELECT slot_name, tables FROM wal2queue.slots'), 'jobs|public.jobs',
	'the bridge role registers its slot on its replication connection');
# the slot was created outside the bridge: its first run says so
my $b = bridge('--accept-new-source');
$node->safe_psql('postgres',
	"INSERT INTO jobs (queue, payload) SELECT 'a', jsonb_build_object('n', g) FROM generate_series(1, 50) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '50' }), 'first batch delivered');
my $deleted = 0;
ok(wait_until(sub { $deleted += prune_all(); $deleted == 50 }, 60), 'delivered rows are pruned');

# the bridge stops; jobs wait; the slot is dropped and re-created
is(stop_bridge($b) >> 8, 0, 'bridge stopped');
$node->safe_psql('postgres',
	"INSERT INTO jobs (queue, payload) SELECT 'b', jsonb_build_object('n', g) FROM generate_series(51, 150) g");
# exactly as an operator would: the bridge's own --drop-slot, then --create-slot
my $bconn = $node->connstr('postgres') . ' user=wal2queue_bridge';
my ($code, $out_drop) = run_bridge('-d', $bconn, '--slot', 'jobs', '--drop-slot');
is($code, 0, '--drop-slot');
like($out_drop, qr/unregistered slot "jobs" from the wal2queue extension's registry/,
	'--drop-slot unregisters the slot');
# (the Redis record shows the old slot delivered less than where the new one
# starts: --accept-new-source accepts that gap, test/t/260)
$b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs', '--create-slot',
	'--accept-new-source', '--status-interval', '1', '-d', $bconn);
ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs" in the wal2queue extension's registry/ }),
	'--create-slot registers the new slot');
is(stop_bridge($b) >> 8, 0, 'bridge stopped');
ok($node->safe_psql('postgres', q{
	SELECT bool_and(age(j.xmin) > age(s.catalog_xmin))
	  FROM jobs j, pg_replication_slots s WHERE s.slot_name = 'jobs'}) eq 't',
	'the new slot\'s catalog_xmin is past every waiting row already');

$b = bridge();
$node->safe_psql('postgres',
	"INSERT INTO jobs (queue, payload) SELECT 'c', jsonb_build_object('n', g) FROM generate_series(151, 170) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '70' }), 'the new slot delivers only the new jobs');
$deleted = 0;
ok(wait_until(sub { $deleted += prune_all(); $deleted >= 20 }, 60), 'the new jobs are pruned once delivered');
is($deleted + prune_all(), 20, 'and nothing else');
is(jobs(), '100', 'the 100 jobs no slot delivered are all still there');
is($node->safe_psql('postgres', q{SELECT min((payload->>'n')::int) || '-' || max((payload->>'n')::int) FROM jobs}),
	'51-150', 'they are exactly the undelivered ones');

# once the operator has re-sent them (docs/operations.md), force => true
# lets prune go by catalog_xmin alone
is(prune_all(1), 100, 'force => true deletes them once the operator chose to');
is(jobs(), '0', 'the table is empty');
stop_bridge($b);

# --drop-slot without registering again: prune refuses
drop_slot();
$node->safe_psql('postgres', "INSERT INTO jobs (queue, payload) VALUES ('d', '{}')");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT wal2queue.prune('public.jobs')");
like($err, qr/no registered replication slot selects table public\.jobs/,
	'with no registered slot prune deletes nothing and says why');
is(jobs(), '1', 'the job is still there');

# wal2queue.status on a standby: slots copied with the data directory are
# listed, measured from the replay position
create_slot();
$node->stop;
$node->backup_fs_cold('cold');
$node->start;
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'cold', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres', "INSERT INTO jobs (queue, payload) VALUES ('e', '{}')");
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
($rc, $out, $err) = $standby->psql('postgres',
	'SELECT slot_name, lag_bytes > 0, retained_bytes >= lag_bytes FROM wal2queue.status');
is($err, '', 'wal2queue.status raises no error on a standby');
is($out, 'jobs|t|t', 'and measures the slot from the replay position');
$standby->stop;

stop_redis($r);
$node->stop;
done_testing();
