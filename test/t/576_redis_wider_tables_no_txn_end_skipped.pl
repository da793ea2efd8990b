# What: a bridge streams --tables public.a into Redis; public.a has had no
# row yet, but other tables are written (public.b, not selected), so the
# progress record's lsn moves on with positions without jobs, and it holds
# no last transaction (no txn_end, no txn_options).  PostgreSQL restarts
# after a crash (pg_ctl -m immediate) and slot "s576" comes back at its last
# checkpointed position, below those writes (test/t/492's crash).  The
# bridge is restarted with a wider --tables public.a,public.b: its replay
# decodes public.b's three transactions below the record's lsn, and the
# deliver function skips them as delivered.  The bridge streams on; stream
# public.b never gets rows 1-3 and nothing reports it (550's hole).
# Why: bridge/redis_history.c progress_on_record() stops a start below the
# record under other options only when the record has txn_options and the
# slot is below txn_end; a record without a last transaction (never one
# under these options, or HDEL'd when the record was created or taken
# over: redis_progress.c deliver()) passes, and deliver() skips every
# item up to lsn (unseen() needs a txn_end to tell a new transaction).
# Expected: under options other than the ones the record's positions were
# recorded with, a replay from below the record's lsn either stops (the
# options-changed verdict) or writes what it decodes; never skips it.
# Severity: high -- silent loss of jobs of the newly selected table
# (exactly-once, issue 10), in the scenario 550 was fixed for.
# Fixed: the deliver function writes lsn_options (the options of the call
# that last wrote lsn) with every record write; bridge/redis_history.c
# record_no_txn() stops a start below lsn of a record without txn_end
# whose lsn_options differ (as sets) from the session's, with the
# options-changed answer.
# Control (W2Q_ATTACK_CONTROL=1): one row of public.a is delivered first
# (the record has a txn_end below the public.b writes): rows 1-3 of
# public.b are written (unseen()).  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $r = start_redis();
my $node = new_node('a576');
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)');
my @cmd = ('--slot', 's576', '--status-interval', '1');
my $br = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.a', '--create-slot');
if ($control)
{
	$node->safe_psql('postgres', 'INSERT INTO a VALUES (1)');
	ok(wait_until(sub { (redis($r, 'XLEN', 'public.a') || 0) == 1 }, 30), 'control: a row of public.a delivered');
}
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn0' FROM pg_replication_slots WHERE slot_name = 's576'") eq 't' }, 30),
	'the slot is confirmed up to here');
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot's position on disk
$node->safe_psql('postgres', "INSERT INTO b VALUES ($_)") for 1 .. 3;
my $lsn1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub {
	my $rec = redis($r, 'HGET', 'wal2queue:progress:s576', 'lsn');
	$rec ne '' && $node->safe_psql('postgres', "SELECT '$rec'::pg_lsn >= '$lsn1'") eq 't' }, 30),
	'the record\'s lsn passed the public.b writes');
note(join(' ', map { "$_=" . redis($r, 'HGET', 'wal2queue:progress:s576', $_) } qw(lsn txn_end txn_options)));
$br->{h}->signal('KILL');
$br->{h}->finish;
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 's576');
ok($node->safe_psql('postgres', "SELECT '$slot'::pg_lsn < '$lsn1'") eq 't',
	"the crash moved the slot back ($slot, below $lsn1)");

# wider: public.b too
$br = start_bridge($node, $r, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', 'INSERT INTO b VALUES (4)');
wait_until(sub { !$br->{h}->pumpable || (redis($r, 'XLEN', 'public.b') || 0) >= 4
	  || redis($r, 'XRANGE', 'public.b', '-', '+') =~ /\b4\b/ }, 30);
sleep 2;	# anything else it would still write
my $runs = $br->{h}->pumpable;
my $n = redis($r, 'XLEN', 'public.b') || 0;
my $log = bridge_log($br);
note(join("\n", grep { /ERROR|WARNING/ } split /\n/, $log));
ok(!$runs || $n == 4, "public.b holds rows 1-4 ($n) or the bridge stopped (it "
	  . ($runs ? 'runs' : 'stopped') . ')');
ok(!$runs || $log =~ /options/ || $n == 4, 'nothing skipped silently');
like($log, qr/no transaction delivered since it was created or taken over\) was written with the options "--plugin=wal2queue --tables=public\.a"/,
	'the stop names the recorded options') unless $control;
stop_bridge($br) if $runs;
$br->{h}->finish unless $runs;
$node->stop;
done_testing();
