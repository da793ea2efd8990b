# What: Kafka's 550.  A bridge streams --tables public.a with --route-column
# q into Kafka: rows of public.a and public.b both route to topic "jobs"
# (q = 'jobs', one partition).  public.b is written first (not selected:
# three transactions), then one row of public.a is delivered: the
# partition's mark is that row, past public.b's writes, and the position
# record passes it.  PostgreSQL restarts after a crash (pg_ctl -m
# immediate): the slot comes back at its last checkpoint, below public.b's
# writes (test/t/576's crash).  The bridge is restarted with a wider
# --tables public.a,public.b: its replay decodes public.b's three
# transactions below the mark, and takes their jobs for delivered ("a job
# at or below its partition's mark is already there"); the mark's own
# transaction (public.a's row) is shown next, so the skip is acknowledged.
# Topic "jobs" never gets public.b's rows 1-3; nothing reports it.
# Why: bridge/kafka_marks.c (a job at or below its partition's mark is
# acknowledged without being sent) trusts the mark as a prefix below what
# the slot or the position record proves; the position record's shape
# (bridge/kafka_record.c shape_format(): plugin, key-column, route-column,
# target-prefix) leaves out what chooses the transactions (--tables,
# --publication), which the Redis record keeps (txn_options, lsn_options:
# 550, 576), so record_shape() lets a replay below the record under a
# wider --tables go on.
# Expected: a replay below the record under options that choose other
# transactions stops (as Redis's options-changed verdict) or writes what
# it decodes; never skips it.
# Severity: high -- silent loss of the newly selected table's jobs
# (exactly-once) wherever it shares a topic partition with a table
# streamed before (a route column, a send() target), after a PostgreSQL
# crash.
# Control (W2Q_ATTACK_CONTROL=1): the row of public.a comes first, public.b's
# rows after it (past the mark): they are written.  Passes.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $k = start_kafka_mock();
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create jobs 1'), 'topic jobs, one partition');
my $node = new_node('a601');
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE b (id int PRIMARY KEY, q text NOT NULL)');
my @cmd = ('--slot', 's601', '--status-interval', '1', '--route-column', 'q', '--sink', "kafka://$bs");

# the rows of public.b (ids 101-104) in topic jobs, as 1-4
sub b_ids
{
	return sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ && $1 > 100 ? $1 - 100 : () }
	  kafka_messages($bs, 'jobs');
}

my $br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a', '--create-slot');
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn0' FROM pg_replication_slots WHERE slot_name = 's601'") eq 't' }, 30),
	'the slot is confirmed up to here');
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot's position on disk
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')") if $control;
$node->safe_psql('postgres', "INSERT INTO b VALUES (100 + $_, 'jobs')") for 1 .. 3;
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')") unless $control;
my $lsn1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { scalar(kafka_messages($bs, 'jobs')) == 1 }, 30), 'the row of public.a is in Kafka');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn1' FROM pg_replication_slots WHERE slot_name = 's601'") eq 't' }, 30),
	'the slot (so the record) passed the writes');
note('the job: ' . (kafka_messages($bs, 'jobs'))[0][3]);
$br->{h}->signal('KILL');
$br->{h}->finish;
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 's601');
ok($node->safe_psql('postgres', "SELECT '$slot'::pg_lsn < '$lsn1'") eq 't',
	"the crash moved the slot back ($slot, below $lsn1)");

# wider: public.b too
$br = start_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', "INSERT INTO b VALUES (104, 'jobs')");
my $lsn2 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
wait_until(sub { !$br->{h}->pumpable || grep { $_ == 4 } b_ids() }, 30);
wait_until(sub { !$br->{h}->pumpable || $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn2' FROM pg_replication_slots WHERE slot_name = 's601'") eq 't' }, 30);
my $runs = $br->{h}->pumpable;
my @ids = b_ids();
my $log = bridge_log($br);
note(join("\n", grep { /ERROR|WARNING/ } split /\n/, $log));
ok(!$runs || "@ids" eq '1 2 3 4', "public.b's jobs in topic jobs are 1-4 (@ids) or the bridge stopped (it "
	  . ($runs ? 'runs' : 'stopped') . ')');
stop_bridge($br) if $runs;
stop_kafka_mock($k);
done_testing();
