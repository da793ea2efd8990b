# prune() must not delete a row a pgoutput slot never delivered (found by
# the adversarial review as test/attack/234).  For a pgoutput slot prune()
# decided from its publication's membership rows alone
# (pg_publication_rel / _namespace, published_before()); ALTER PUBLICATION
# ... SET (publish = 'update') and back to 'insert' changes only the
# pg_publication row, so an INSERT made in between -- never sent by
# pgoutput, never a job -- was judged delivered by the slot that confirmed
# past it and deleted without force.  (The bridge's publication watch stops
# it when the change happens while it streams, test/t/231; a change made
# while no bridge runs is not seen by it.)
# Fixed: sql/src/30_prune.sql publication_gap(): a pgoutput slot counts as
# delivering a table only if the pg_publication row and a row that
# publishes the table whole under its own name are unchanged since the
# slot was registered (and it publishes inserts, via the partition root);
# otherwise prune() refuses, naming the change, until the slot is
# registered again (test/regress ext_prune_publication has the other
# cases: publish_via_partition_root, SET TABLE, DROP and CREATE, RENAME,
# row filters, FOR ALL TABLES).
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
	SELECT wal2queue.append_only('jobs');
	ALTER TABLE jobs OWNER TO bridge;
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /registered slot "pgo"/ }), 'the bridge registers its slot')
  or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'delivered')});
my $job1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'job 1 delivered');
# confirmed too: a slot still where it was registered is taken for a new
# one by the next run (slot.c, "checked as new"), whose session then counts
# as unrecorded, and a registration after its start is not attested
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$job1' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }),
	'the slot is confirmed past job 1');
stop_bridge($b);

# while no bridge runs: publish = 'update', a job, publish = 'insert'
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	ALTER PUBLICATION w2q SET (publish = 'update');
	INSERT INTO jobs VALUES (2, 'never sent');
	ALTER PUBLICATION w2q SET (publish = 'insert');
	INSERT INTO jobs VALUES (3, 'delivered');
});
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }), 'job 3 delivered')
  or diag(bridge_log($b));
is(join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.jobs') }), '1,3',
	'job 2 was never delivered (pgoutput did not send it)');
ok(wait_attested($node, 'pgo'), 'the bridge attested its slot past job 3');
$node->safe_psql('postgres', 'CHECKPOINT');
my ($err, $deleted) = ('', 0);
for (1 .. 10)
{
	my ($out, $stderr) = ('', '');
	# as the table's owner: a superuser's prune() skips another role's table
	$node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')}, stdout => \$out, stderr => \$stderr,
		extra_params => [ '-U', 'bridge' ]);
	$err = $stderr;
	$deleted += $out if $out =~ /^\d+$/;
	last if $err ne '' || $deleted >= 2;
	sleep 1;
}
like($err, qr/ERROR:  wal2queue.prune: publication "w2q" of replication slot "pgo" was created or changed \(ALTER PUBLICATION \.\.\. SET, RENAME or OWNER TO; or DROP and CREATE\) after the slot was registered, so no job counts as delivered/,
	'prune() refuses: the publication changed after the slot was registered');
is($deleted, 0, 'prune() deleted nothing');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs}), '1,2,3',
	'prune() keeps the row no slot delivered');

# registered again, the slot delivers from now on: only later jobs go
$node->safe_psql('postgres', q{SET ROLE bridge; SELECT wal2queue.register_slot('pgo', 'public.jobs', 'w2q')});
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (4, 'delivered')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '3' }), 'job 4 delivered');
ok(wait_attested($node, 'pgo'), 'the bridge attested its slot past job 4');
$node->safe_psql('postgres', 'CHECKPOINT');
ok(wait_until(sub {
	$node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')}, extra_params => [ '-U', 'bridge' ]);
	$node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE id = 4}) eq '0' }, 30),
	'prune() deletes job 4 once it is delivered');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs}), '1,2,3',
	'the rows older than the registration stay');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
