# --plugin=pgoutput: a transaction's end position is the end of its commit
# record, as in the plugin mode, although pgoutput sends it only with the
# Commit message (its Begin carries the commit LSN alone): the ledger and
# the Redis progress record take it from the commit, so the slot is never
# confirmed at "commit LSN + 1" (a position inside the commit record).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgo_end', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_walinspect;
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	ALTER TABLE jobs OWNER TO bridge;
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge',
	'--plugin', 'pgoutput', '--publication', 'w2q', '--slot', 'pgo', '--create-slot',
	'--tables', 'public.jobs', '--target-prefix', 'e:', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming with pgoutput')
  or diag(bridge_log($b));

my $before = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$node->safe_psql('postgres', q{BEGIN; INSERT INTO jobs VALUES (1, 'a'), (2, 'b'); COMMIT;});
my ($commit, $end) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT start_lsn, end_lsn FROM pg_get_wal_records_info('$before', pg_current_wal_flush_lsn())
	 WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT'});
ok(defined $end, "the commit record: $commit to " . ($end // '?'));
ok(wait_until(sub { redis($r, 'XLEN', 'e:public.jobs') eq '2' }), 'the jobs arrive');
is(stream_entries($r, 'e:public.jobs')->[0][1]{_lsn}, $commit, 'their _lsn is the commit LSN');
ok(wait_until(sub {
	$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots
		WHERE slot_name = 'pgo'") eq 't' }), 'the slot is confirmed past the commit record');

# "commit LSN + 1", as the bridge writes LSNs
my ($hi, $lo) = map { hex } split m{/}, $commit;
my $plus1 = sprintf('%X/%X', $hi, $lo + 1);
my $log = bridge_log($b);
# the first position confirmed past the commit LSN is its end, or later: the
# pgoutput mode also caps confirmations at what the publication watch proved
# (docs/managed.md), so the end itself may be passed over
my ($first) = grep { $node->safe_psql('postgres', "SELECT '$_'::pg_lsn > '$commit'") eq 't' }
	$log =~ /confirmed (\S+)$/mg;
is($node->safe_psql('postgres', "SELECT '" . ($first // '0/0') . "'::pg_lsn >= '$end'"), 't',
	"the transaction is confirmed at its end, $end, or later (" . ($first // 'none') . ')');
unlike($log, qr{confirmed \Q$plus1\E$}m, "never at the commit LSN + 1 ($plus1)");
my $progress = redis($r, 'HGET', 'e:wal2queue:progress:pgo', 'lsn');
my $cmp = $node->safe_psql('postgres', "SELECT '$progress'::pg_lsn >= '$end'");
is($cmp, 't', "the Redis progress record is at or past the end ($progress)");

stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
