# prune() and slots moved without a bridge (issue 11, item 2; the attack
# review's 201).  A registered slot dropped and re-created by hand under
# the same name (pg_drop_replication_slot + pg_create_logical_replication_slot)
# keeps its old registry row and the new slot's catalog_xmin passes the rows
# inserted meanwhile, which it never delivers; a slot advanced
# (pg_replication_slot_advance) or consumed (pg_logical_slot_get_changes)
# by hand moves its catalog_xmin past rows nobody delivered.  prune() counts
# a slot's catalog_xmin only as far as a bridge attested it
# (wal2queue.attest_slot), and the bridge attests only sessions its sink
# validated and that started where the slot was registered or last
# attested: none of those rows is deleted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('handrecreate');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE pj (id int PRIMARY KEY, p text);
	CREATE TABLE pk (id int PRIMARY KEY, p text);
	SELECT wal2queue.append_only('pj'), wal2queue.append_only('pk');
	SELECT wal2queue.create_slot('p1', 'public.pj');
});

# prune, nudging catalog_xmin along with checkpoints; returns the rows deleted
sub prune_all
{
	my ($table) = @_;
	my $deleted = 0;
	for my $i (1 .. 5)
	{
		$node->safe_psql('postgres', 'CREATE TEMP TABLE x(); CHECKPOINT');
		sleep 1;
		$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('$table')");
	}
	return $deleted;
}

# 1. dropped and re-created by hand
$node->safe_psql('postgres', q{
	INSERT INTO pj SELECT g, 'undelivered' FROM generate_series(1, 100) g;
	SELECT pg_drop_replication_slot('p1');
	SELECT pg_create_logical_replication_slot('p1', 'wal2queue');
});
# the new slot streams (it starts after the 100 rows: they are never delivered)
my $b = start_bridge($node, $r, '--slot', 'p1', '--tables', 'public.pj',
	'--status-interval', '1', '--accept-new-source');
ok(wait_until(sub { bridge_log($b) =~ /refused to trust slot "p1"/ }),
	'the bridge says the extension refused to trust the re-created slot');
like($node->safe_psql('postgres', q{SELECT attest_refused FROM wal2queue.slots WHERE slot_name = 'p1'}),
	qr/began at .* without a record in its sink/, 'the registry records why');
is(prune_all('public.pj'), 0, 'prune deletes none of the undelivered rows');
is(redis($r, 'XLEN', 'public.pj'), '0', 'the re-created slot delivered none of the 100 rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pj'), '100', 'all 100 rows still there');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT wal2queue.prune('public.pj')");
like($err, qr/replication slot "p1" was consumed or re-created without a bridge/, 'prune says why');
is(stop_bridge($b) >> 8, 0, 'bridge stopped');
# every registered slot holds prune of every table: p1 goes
$node->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('p1');
	SELECT wal2queue.unregister_slot('p1');
});

# 2. advanced, then consumed, by hand after a bridge delivered and attested
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('p2', 'public.pk')});
$b = start_bridge($node, $r, '--slot', 'p2', '--tables', 'public.pk',
	'--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO pk SELECT g, 'delivered' FROM generate_series(1, 10) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.pk') eq '10' }), 'the bridge delivers the first 10');
ok(wait_attested($node, 'p2'), 'and attests its slot');
my $deleted = 0;
ok(wait_until(sub { $deleted += prune_all('public.pk'); $deleted == 10 }, 60),
	'the delivered rows are pruned');
is(stop_bridge($b) >> 8, 0, 'bridge stopped');

$node->safe_psql('postgres', q{
	INSERT INTO pk SELECT g, 'advanced over' FROM generate_series(11, 60) g;
	CHECKPOINT;
	SELECT pg_replication_slot_advance('p2', pg_current_wal_lsn());
	CHECKPOINT;
	SELECT pg_replication_slot_advance('p2', pg_current_wal_lsn());
});
ok($node->safe_psql('postgres', q{
	SELECT bool_and(age(k.xmin) > age(s.catalog_xmin))
	  FROM pk k, pg_replication_slots s WHERE s.slot_name = 'p2'}) eq 't',
	'the advanced slot\'s catalog_xmin is past the 50 undelivered rows');
is(prune_all('public.pk'), 0, 'after pg_replication_slot_advance prune deletes none of them');

$node->safe_psql('postgres', q{
	INSERT INTO pk SELECT g, 'consumed' FROM generate_series(61, 80) g;
	SELECT count(*) FROM pg_logical_slot_get_changes('p2', NULL, NULL, 'format', 'json');
	CHECKPOINT;
	SELECT count(*) FROM pg_logical_slot_get_changes('p2', NULL, NULL, 'format', 'json');
});
is(prune_all('public.pk'), 0, 'after pg_logical_slot_get_changes prune deletes none of them');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pk'), '70', 'all 70 rows still there');

# the bridge's sink record is behind the slot now: it refuses the session
# (and so never attests it)
my ($code, $log) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'p2', '--tables', 'public.pk',
	'--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1');
is($code, 1, 'the bridge refuses a slot that moved past its sink record');
like($log, qr/behind the position/, 'and says so');
is(prune_all('public.pk'), 0, 'prune still deletes nothing');

stop_redis($r);
$node->stop;
done_testing();
