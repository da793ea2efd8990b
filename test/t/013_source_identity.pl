# The source a running bridge streams from is (system identifier, timeline,
# database, slot), checked at every stream open.  A different server behind
# the same conninfo, or a promoted standby, stops the bridge with an error
# naming both, and nothing of the old session is confirmed into the new
# slot (every session starts at the slot's own position).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

sub lsn_num
{
	my ($hi, $lo) = split m{/}, shift;
	return hex($hi) * 2**32 + hex($lo);
}

my $r = start_redis();

# ---- 1. another server behind the same conninfo ----
my $old = new_node('old');
$old->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, pad text);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my $b = start_bridge($old, $r, '--slot', 'jobs', '--status-interval', '1', '--accept-new-source');
# move the old server's WAL far ahead of a fresh cluster's
$old->safe_psql('postgres', "INSERT INTO jobs SELECT g, repeat('x', 500) FROM generate_series(1, 20000) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '20000' }), 'old server: 20000 jobs');
my $port = $old->port;
my $sysid_old = $old->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$old->stop('fast');

# a fresh cluster on the same port, with the slot created again
my $new = PostgreSQL::Test::Cluster->new('new', port => $port);
$new->init(allows_streaming => 'logical');
$new->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, test_decoding, wal2queue'\n");
$new->start;
$new->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, pad text);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
	INSERT INTO jobs VALUES (1, 'new');
});
my $sysid_new = $new->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $wal_end = lsn_num($new->safe_psql('postgres', 'SELECT pg_current_wal_lsn()'));

ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge stopped');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'with exit status 1');
my $log = bridge_log($b);
like($log, qr/server behind the connection changed: system identifier $sysid_new .*was $sysid_old/,
	'the error names both system identifiers');
like($log, qr/--accept-new-source/, 'and what the operator can do');
my $conf = lsn_num(slot_confirmed($new, 'jobs'));
ok($conf <= $wal_end, "the new slot was not confirmed past the new server's WAL");
is(redis($r, 'XLEN', 'public.jobs'), '20000', 'nothing of the new server was written');

# --accept-new-source: the operator says the swap was deliberate
my $b2 = start_bridge($new, $r, '--slot', 'jobs', '--status-interval', '1', '--accept-new-source');
$new->safe_psql('postgres', "INSERT INTO jobs VALUES (2, 'new')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '20002' }), 'with --accept-new-source it streams the new server');
is(stop_bridge($b2) >> 8, 0, 'clean stop') or diag(bridge_log($b2));
$new->stop;

# ---- 2. a physical standby promoted behind the conninfo ----
my $primary = new_node('primary');
$primary->safe_psql('postgres', q{
	CREATE TABLE jobs2 (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('jobs2', 'wal2queue');
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
my $conninfo = sprintf("host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write",
	$primary->host, $standby->host, $primary->port, $standby->port);
my $log2 = $PostgreSQL::Test::Utils::tmp_check . "/bridge_promote.log";
my $h = IPC::Run::start([ bridge_path(), '-d', $conninfo, '--slot', 'jobs2',
		'--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1', '-v', '--accept-new-source' ],
	'>', $log2, '2>&1');
$primary->safe_psql('postgres', 'INSERT INTO jobs2 SELECT generate_series(1, 100)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs2') eq '100' }), 'primary: 100 jobs');
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
# the operator re-creates the slot on the promoted standby (PostgreSQL 15
# does not carry logical slots over)
$standby->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('jobs2', 'wal2queue')");
$standby->safe_psql('postgres', 'INSERT INTO jobs2 SELECT generate_series(101, 110)');
ok(wait_until(sub { !$h->pumpable }, 60), 'the bridge stopped after the promotion');
$h->finish;
is($h->full_result(0) >> 8, 1, 'with exit status 1');
my $l2 = slurp_file($log2);
like($l2, qr/timeline changed from 1 to 2 at [0-9A-F]+\/[0-9A-F]+/, 'the error names the timelines and the switch point');
is(redis($r, 'XLEN', 'public.jobs2'), '100', 'nothing from the new timeline was written silently');
$standby->stop;
stop_redis($r);
done_testing();
