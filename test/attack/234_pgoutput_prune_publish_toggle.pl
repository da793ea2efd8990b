# ATTACK (fails on main): "prune() never deletes a row no slot delivered";
# for a pgoutput slot prune() decides from its publication
# (sql/src/30_prune.sql: slot_selects() reads pg_publication_tables,
# published_before() the xmin of pg_publication_rel / _namespace rows).
# Neither sees the publication's publish actions: ALTER PUBLICATION ... SET
# (publish = 'update') and back to 'insert' only updates pg_publication, so
# an INSERT made in between -- never sent by pgoutput, never a job -- is
# judged delivered by the slot that confirmed past it, and prune() deletes
# it without force: the only copy of a job that was never delivered.  (The
# same holds for publish_via_partition_root switched off and on with a
# partitioned job table: the rows arrive under the partition's name, which
# --tables does not select.)
# Expected: prune() keeps the row (it was never delivered), e.g. by refusing
# to vouch for a publication whose pg_publication row changed after the
# slot was registered, as it does for pg_publication_rel.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('pgoprune', no_allow_list => 1);
my $r = start_redis();
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', $script ]);
unlike($e, qr/ERROR/, 'the standalone script is installed') or diag($e);
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, v text);
	ALTER TABLE jobs OWNER TO bridge;
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /registered slot "pgo"/ }), 'the bridge registers its slot')
  or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'delivered')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'job 1 delivered');
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	ALTER PUBLICATION w2q SET (publish = 'update');
	INSERT INTO jobs VALUES (2, 'never sent');
	ALTER PUBLICATION w2q SET (publish = 'insert');
	INSERT INTO jobs VALUES (3, 'delivered');
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }), 'job 3 delivered');
is(join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.jobs') }), '1,3',
	'job 2 was never delivered (pgoutput did not send it)');
ok(wait_attested($node, 'pgo'), 'the bridge attested its slot past job 3');
$node->safe_psql('postgres', 'CHECKPOINT');
my $deleted = 0;
for (1 .. 10)
{
	$deleted += $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
	last if $deleted >= 2;
	sleep 1;
}
note("prune deleted $deleted rows");
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE id = 2}), '1',
	'prune() keeps the row no slot delivered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
