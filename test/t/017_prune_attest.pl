# prune() with a pgoutput slot (issue 12): --plugin=pgoutput --create-slot
# registers the slot with its publication, the bridge attests it once its
# sink validated the session, and prune() deletes exactly the rows the slot
# delivered, deciding "does the slot select this table" from
# pg_publication_tables (a partition by its root).
#
# Then the Kafka sink, whose marks say nothing of the slot: every session
# passes its start as unrecorded, a slot the bridge created is attested, one
# dropped and re-created by hand is refused.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use IPC::Run;

my $node = new_node('pgoprune', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, v text);
	CREATE TABLE parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
	CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
	SELECT wal2queue.append_only('jobs'), wal2queue.append_only('parted');
	ALTER TABLE jobs OWNER TO bridge;
	ALTER TABLE parted OWNER TO bridge;
	ALTER TABLE parted_eu OWNER TO bridge;
});
my $conn = $node->connstr('postgres') . ' user=bridge';

sub prune_all
{
	my ($table) = @_;
	my $deleted = 0;
	for my $i (1 .. 4)
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		# as the tables' owner: a superuser's prune() skips another role's table
		$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('$table')", extra_params => [ '-U', 'bridge' ]);
	}
	return $deleted;
}

my $b = start_bridge($node, $r, '-d', $conn, '--plugin', 'pgoutput', '--publication', 'w2q_pub',
	'--slot', 'pgo', '--create-slot', '--tables', 'public.jobs, public.parted', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /registered slot "pgo" in the wal2queue extension's registry/ }),
	'--create-slot registers the pgoutput slot');
is($node->safe_psql('postgres', 'SELECT slot_name, tables, publication FROM wal2queue.slots'),
	'pgo|public.jobs, public.parted|w2q_pub', 'with its tables and its publication');

$node->safe_psql('postgres', q{
	INSERT INTO jobs SELECT g, 'x' FROM generate_series(1, 30) g;
	INSERT INTO parted SELECT g, 'eu' FROM generate_series(1, 5) g;
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '30' && redis($r, 'XLEN', 'public.parted') eq '5' }),
	'the rows are delivered');
ok(wait_attested($node, 'pgo'), 'the bridge attests the pgoutput slot');
my $deleted = 0;
ok(wait_until(sub { $deleted += prune_all('public.jobs'); $deleted == 30 }, 60), 'prune deletes the delivered rows');
$deleted = 0;
ok(wait_until(sub { $deleted += prune_all('public.parted_eu'); $deleted == 5 }, 60),
	'and those of a partition published via its root');

is(stop_bridge($b) >> 8, 0, 'bridge stopped');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'waiting' FROM generate_series(31, 40) g});
is(prune_all('public.jobs'), 0, 'with the bridge stopped, prune deletes none of the new rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '10', 'they are all there');
# every registered slot holds prune of every table: pgo goes
$node->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('pgo');
	SELECT wal2queue.unregister_slot('pgo');
});

# Kafka (librdkafka's mock cluster)
my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start(["$root/test/helpers/kafka-mock", '1'], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;
$node->safe_psql('postgres', q{
	CREATE TABLE kjobs (id int PRIMARY KEY);
	SELECT wal2queue.append_only('kjobs');
	ALTER TABLE kjobs OWNER TO bridge;
});
my @kafka = ('-d', $conn, '--plugin', 'pgoutput', '--publication', 'k_pub', '--slot', 'k',
	'--tables', 'public.kjobs', '--sink', "kafka://$bootstrap", '--status-interval', '1');
$b = start_bridge($node, undef, @kafka, '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "k"/ }), 'kafka: the bridge streams its new slot');
$node->safe_psql('postgres', q{INSERT INTO kjobs SELECT generate_series(1, 10)});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'k'") eq 't' }),
	'kafka: the jobs are delivered and confirmed');
ok(wait_attested($node, 'k'), 'kafka: a slot the bridge created is attested');
$deleted = 0;
ok(wait_until(sub { $deleted += prune_all('public.kjobs'); $deleted == 10 }, 60), 'kafka: prune deletes the delivered rows');
is(stop_bridge($b) >> 8, 0, 'kafka: bridge stopped');

# a clean stop right after a confirmation, long before the next periodic
# attestation (every 10 s here): the bridge attests once more as it stops,
# so the restart, which has no sink record to vouch for it, is attested
my @kafka10 = map { $_ eq '1' ? '10' : $_ } @kafka;
$b = start_bridge($node, undef, @kafka10);
ok(wait_until(sub { bridge_log($b) =~ /attesting slot "k"/ }), 'kafka: the session is attested as it starts');
$node->safe_psql('postgres', q{INSERT INTO kjobs SELECT generate_series(101, 105)});
$end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'k'") eq 't' }),
	'kafka: five more jobs delivered and confirmed');
is(stop_bridge($b) >> 8, 0, 'kafka: bridge stopped at once');
is($node->safe_psql('postgres', q{SELECT attested_lsn >= confirmed_flush_lsn FROM wal2queue.slots JOIN pg_replication_slots USING (slot_name) WHERE slot_name = 'k'}),
	't', 'kafka: the stop attested the slot up to its last confirmation');
sleep 1;
$b = start_bridge($node, undef, @kafka);
ok(wait_until(sub { bridge_log($b) =~ /attesting slot "k"|refused to trust slot "k"/ }), 'kafka: restarted');
unlike(bridge_log($b), qr/refused to trust slot "k"/, 'kafka: a restart after a clean stop is not refused');
$deleted = 0;
ok(wait_until(sub { $deleted += prune_all('public.kjobs'); $deleted == 5 }, 60), 'kafka: prune goes on after the restart');
is(stop_bridge($b) >> 8, 0, 'kafka: bridge stopped');

$node->safe_psql('postgres', q{
	INSERT INTO kjobs SELECT generate_series(11, 30);
	SELECT pg_drop_replication_slot('k');
	SELECT pg_create_logical_replication_slot('k', 'pgoutput');
});
$b = start_bridge($node, undef, @kafka, '--accept-new-source');
ok(wait_until(sub { bridge_log($b) =~ /refused to trust slot "k"/ }),
	'kafka: a slot re-created by hand is not attested');
is(prune_all('public.kjobs'), 0, 'kafka: prune deletes none of the rows it skipped');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kjobs'), '20', 'kafka: they are all there');
stop_bridge($b);
$min .= "quit\n";
$mock->finish;

stop_redis($r);
$node->stop;
done_testing();
