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
# Fixed: the position record keeps, in its header "options", the options
# that chose its transactions (--plugin, --publication, --tables: the text
# of Redis's txn_options, bridge/txn_options.c, compared as a selection).
# bridge/kafka_record.c record_options(): a session whose slot starts below
# the record, under options that select transactions the recorded ones did
# not, stops at once with exit 1, writing and confirming nothing, naming
# both lists and the way out that writes nothing twice (the recorded options
# until the slot has confirmed past the record, a CHECKPOINT, then the new
# ones).  One that starts at or past the record, or below it with
# --accept-new-source, goes on, but the first job a partition's mark would
# skip stops it (kafka_record_skip_check(): marks written before the session
# are no evidence under the new options).  Narrower options (the recorded
# ones select everything they select) go on: a mark skips only what was
# delivered.  A record of an older bridge, without the header, is not
# judged.  This test: the wider start stops; with --accept-new-source it
# stops at the first skip; the recorded options in another spelling go on
# (public.a's row not written twice); after the way out the wider list
# streams public.b from the restart on, no hole; after another crash a
# narrower --tables goes on, each row of public.a once.
# (The attack's control, public.b's rows past the mark, now stops as well:
# below the record under a wider list the bridge cannot tell which jobs a
# mark covers.)
# Since 660/661's fix (test/t/660, 661): a session whose options differ
# from the record's and whose slot starts below the old horizon (the
# server's WAL end at its start, or the record) no longer stops: it replays
# under the recorded options up to there, then switches to its own (a job's
# seq depends on the options, so the marks hold only under the recorded
# ones).  This test now checks that the wider start below the record goes
# on, writes nothing of public.b below the horizon (the documented way:
# --backfill delivers it), public.a's row not twice, public.b from the
# switch on; the recorded options in another spelling replay nothing; after
# another crash a narrower --tables replays under the recorded (wider)
# ones first, each row once.  The --accept-new-source stop is gone (the
# same replay).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $k = start_kafka_mock();
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create jobs 1'), 'topic jobs, one partition');
my $node = new_node('a601');
$node->safe_psql('postgres', 'CREATE TABLE a (id int PRIMARY KEY, q text NOT NULL);'
	  . 'CREATE TABLE b (id int PRIMARY KEY, q text NOT NULL)');
my @cmd = ('--slot', 's601', '--status-interval', '1', '--route-column', 'q', '--sink', "kafka://$bs");

# the rows of public.b (ids 101-) in topic jobs, as 1-; of public.a (ids 1-)
sub b_ids
{
	return sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ && $1 > 100 ? $1 - 100 : () }
	  kafka_messages($bs, 'jobs');
}

sub a_ids
{
	return sort { $a <=> $b } map { $_->[3] =~ /"id":(\d+)/ && $1 <= 100 ? $1 : () }
	  kafka_messages($bs, 'jobs');
}

sub lsn_num
{
	my ($hi, $lo) = split m{/}, $_[0];
	return hex($hi) * 4294967296 + hex($lo);
}

sub confirmed_past
{
	my ($lsn) = @_;
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 's601'") eq 't' }, 30);
}

# a bridge expected to stop: (exit status or -1 if it runs, its log)
sub stops
{
	my ($br) = @_;
	wait_until(sub { !$br->{h}->pumpable }, 30);
	my $rc = $br->{h}->pumpable ? -1 : stop_bridge($br) >> 8;
	stop_bridge($br) if $rc == -1;
	return ($rc, bridge_log($br));
}

my $br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a', '--create-slot');
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn0), 'the slot is confirmed up to here');
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot's position on disk
$node->safe_psql('postgres', "INSERT INTO b VALUES (100 + $_, 'jobs')") for 1 .. 3;
$node->safe_psql('postgres', "INSERT INTO a VALUES (1, 'jobs')");
my $lsn1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { scalar(kafka_messages($bs, 'jobs')) == 1 }, 30), 'the row of public.a is in Kafka');
ok(confirmed_past($lsn1), 'the slot (so the record) passed the writes');
$br->{h}->signal('KILL');
$br->{h}->finish;
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 's601');
ok($node->safe_psql('postgres', "SELECT '$slot'::pg_lsn < '$lsn1'") eq 't',
	"the crash moved the slot back ($slot, below $lsn1)");

# wider: public.b too.  Since 660/661's fix it no longer stops: below the
# old horizon it replays under the recorded options (a job's seq depends on
# the options, so the marks hold only under them), then switches; public.b's
# rows below the horizon are not delivered (the documented way: --backfill
# delivers what came before the change), and none is skipped under the new
# options, which start past every mark
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', "INSERT INTO b VALUES (105, 'jobs')");
ok(wait_until(sub { grep { $_ == 5 } b_ids() }, 30), "the wider --tables delivers public.b's row 5")
  or diag(bridge_log($br));
ok($br->{h}->pumpable, '  and keeps running');
my $log = bridge_log($br);
my ($rec) = $log =~ m{kafka position record of slot "s601" \(at ([0-9A-F]+/[0-9A-F]+)\) was written with};
ok(defined $rec && lsn_num($rec) >= lsn_num($lsn1), '  naming the record (' . ($rec // 'none') . ')');
like($log, qr/with the options "--plugin=wal2queue --tables=public\.a", this bridge runs with "--plugin=wal2queue --tables=public\.a,public\.b", and the slot restarts at \Q$slot\E, below \S+ \(the server's WAL end: every job written under the recorded options is at or below it\); .*replaying under them until the slot has passed it, then switching to this bridge's/,
	'  replaying under the recorded options first, naming both lists') or diag($log);
like($log, qr/the replay under the recorded options "--plugin=wal2queue --tables=public\.a" has passed \S+ \(confirmed \S+\): streaming with this bridge's own from there/,
	'  then switching') or diag($log);
unlike($log, qr/ERROR/, '  no ERROR') or diag($log);
stop_bridge($br);
is(join(' ', b_ids()), '5', "  public.b from the horizon on: row 5 only (rows 1-3 came before the change)");
is(join(' ', a_ids()), '1', "  public.a's row not written twice");

# the recorded options in another spelling go on without a replay
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.b, public.a,public.a');
$node->safe_psql('postgres', "INSERT INTO b VALUES (104, 'jobs')");
my $lsn2 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn2), 'the recorded options in another spelling go on') or diag(bridge_log($br));
$node->safe_psql('postgres', 'CHECKPOINT');
unlike(bridge_log($br), qr/ERROR|WARNING|replaying under them/, '  no ERROR, no WARNING, no replay')
  or diag(bridge_log($br));
is(join(' ', b_ids()), '4 5', "  public.b's row 4 delivered");

# narrower after another crash: below the record, it goes on
my $lsn3 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(confirmed_past($lsn3), 'the slot passed row 4');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres', "INSERT INTO b VALUES (106, 'jobs')");
$node->safe_psql('postgres', "INSERT INTO a VALUES (2, 'jobs')");
my $lsn4 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { grep { $_ == 2 } a_ids() }, 30), "public.a's row 2 delivered");
ok(confirmed_past($lsn4), '  and the slot passed it');
$br->{h}->signal('KILL');
$br->{h}->finish;
$node->stop('immediate');
$node->start;
$slot = slot_confirmed($node, 's601');
ok($node->safe_psql('postgres', "SELECT '$slot'::pg_lsn < '$lsn4'") eq 't',
	"the crash moved the slot back ($slot, below $lsn4)");
$br = start_streaming_bridge($node, undef, @cmd, '--tables', 'public.a');
$node->safe_psql('postgres', "INSERT INTO a VALUES (3, 'jobs')");
ok(wait_until(sub { grep { $_ == 3 } a_ids() }, 30), "a narrower --tables goes on: public.a's row 3 delivered")
  or diag(bridge_log($br));
ok($br->{h}->pumpable, '  and keeps running');
is(join(' ', a_ids()), '1 2 3', "  public.a's rows each once");
is(join(' ', b_ids()), '4 5 6', "  public.b's rows each once");
like(bridge_log($br), qr/was written with the options "--plugin=wal2queue --tables=public\.b, public\.a,public\.a", this bridge runs with "--plugin=wal2queue --tables=public\.a", .*replaying under them/,
	'  below the horizon it replays under the recorded (wider) options') or diag(bridge_log($br));
unlike(bridge_log($br), qr/ERROR|WARNING/, '  no ERROR, no WARNING') or diag(bridge_log($br));
stop_bridge($br);
stop_kafka_mock($k);
done_testing();
