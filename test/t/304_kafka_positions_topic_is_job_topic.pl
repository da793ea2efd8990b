# --kafka-positions-topic naming a topic the bridge also writes jobs to (a
# slip: the job table's topic, public.kjobs here).  Nothing refuses it
# (main.c's check is only that the name is a topic name; kafka_conf.c
# sink_kafka_check tries the -X properties and the prefix): the session's
# first position record (value {"source":..,"lsn":..}, no table/seq
# headers) lands among the jobs, where every consumer reads it as a job;
# then the first job's marks read (kafka_marks.c) finds the partition ending
# with it and the bridge exits 1 blaming "another producer" (it is its own
# record), after --create-slot made the slot, and again at every restart.
# Fixed: refused at start, exit 2 (kafka_conf.c sink_kafka_check_positions);
# a position record at a job topic's end is named so (kafka_marks.c).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.kjobs 1'), 'topic public.kjobs, one partition');
my $node = new_node('pos_job_topic');
$node->safe_psql('postgres', q{CREATE TABLE kjobs (id int PRIMARY KEY, v text NOT NULL)});
my @args = ('--slot', 'pj', '--tables', 'public.kjobs', '--sink', "kafka://$bs",
	'--kafka-positions-topic', 'public.kjobs');

sub messages
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.kjobs', '-o', 'beginning', '-e', '-q',
		'-f', '%h\t%s\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return [ grep { /\S/ } split /\n/, $out ];
}

my $b = start_bridge($node, undef, @args, '--create-slot');
wait_until(sub { bridge_log($b) =~ /streaming slot "pj"/ || !$b->{h}->pumpable }, 60);
if ($b->{h}->pumpable)
{
	$node->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'x' FROM generate_series(1, 5) g});
	wait_until(sub { (grep { /table=/ } @{ messages() }) >= 5 }, 60);
	sleep 1;
	stop_bridge($b);
}
else
{
	$b->{h}->finish;
}
my @other = grep { !/table=public\.kjobs/ } @{ messages() };
ok(!$b->{h}->full_result(0) || @other == 0,
	'the bridge refused it, or the job topic holds nothing but jobs');
diag('not jobs: ' . join("\n", @other)) if @other;
is($b->{h}->full_result(0) >> 8, 2, 'refused at start (exit 2, before the slot), naming the option')
  or diag(join("\n", grep { /ERROR/ } split /\n/, bridge_log($b)));

like(bridge_log($b), qr/invalid value for --kafka-positions-topic "public\.kjobs": it is the job topic of a table of --tables "public\.kjobs"/,
	'naming the option and the table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pj'}),
	'0', 'no slot was made');

# with --target-prefix: the prefixed name is the job topic, the bare one is not
$b = start_bridge($node, undef, @args[0 .. 5], '--target-prefix', 'p.', '--kafka-positions-topic',
	'p.public.kjobs');
wait_until(sub { !$b->{h}->pumpable }, 30);
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 2, 'the prefixed job topic is refused too');

# a position record found at the end of a job topic (written there by an
# older bridge, or a route) is named for what it is
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my ($in, $out, $err) = ("{}\n", '', '');
IPC::Run::run([ 'kcat', '-b', $bs, '-P', '-t', 'public.kjobs', '-k', "$sysid/postgres/pj",
	'-H', "source=$sysid/1/postgres/pj", '-H', 'lsn=0/1' ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(30)) or die "kcat: $err";
$b = start_bridge($node, undef, @args[0 .. 5], '--create-slot');
wait_until(sub { bridge_log($b) =~ /streaming slot "pj"/ || !$b->{h}->pumpable }, 60);
$node->safe_psql('postgres', q{INSERT INTO kjobs VALUES (100, 'z')});
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the bridge stops at the record in the job topic');
$b->{h}->finish;
like(bridge_log($b), qr/kafka topic "public\.kjobs" partition 0 ends with a wal2queue position record, not a job/,
	'naming it a position record');
stop_kafka_mock($k);
done_testing();
