# Two deployments that share nothing but a Kafka cluster: two PostgreSQL
# servers, each with a slot named "jobs", each bridge with its own
# --target-prefix (so their job topics, and their marks, are apart).  Before
# the position record that worked.  The record is keyed by the slot name
# alone in one default topic (wal2queue.positions) for the whole cluster
# (kafka_record.c, record_apply/record_foreign), so the second bridge finds
# the first one's record, "of another source", and exits 1; started with
# --accept-new-source as its error says, it overwrites the record, and the
# first bridge's next session (any reconnect: here a kill -9) exits 1 in turn.
# Neither ever wrote into the other's topics.
# Fixed: the record is keyed <sysid>/<dbname>/<slot> (kafka_record.c
# record_key); a record of another system is none.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $kafka = start_kafka_mock();
my $bootstrap = $kafka->{bootstrap};

sub setup
{
	my ($name) = @_;
	my $node = new_node($name);
	$node->safe_psql('postgres', q{
		CREATE EXTENSION wal2queue;
		CREATE TABLE kjobs (id int PRIMARY KEY, v text);
		SELECT wal2queue.append_only('kjobs');
	});
	return $node;
}

sub count_topic
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return scalar grep { /^\{/ } split /\n/, $out;
}

sub args
{
	my ($node, $prefix) = @_;
	return ('-d', $node->connstr('postgres'), '--slot', 'jobs', '--tables', 'public.kjobs',
		'--target-prefix', $prefix, '--sink', "kafka://$bootstrap");
}

my $na = setup('deploy_a');
my $nb = setup('deploy_b');

sub streaming
{
	my ($b) = @_;
	wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ || !$b->{h}->pumpable }, 60);
}

my $a = start_bridge($na, undef, args($na, 'a.'), '--create-slot');
streaming($a);
$na->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'a' FROM generate_series(1, 10) g});
ok(wait_until(sub { count_topic('a.public.kjobs') == 10 }, 60), 'deployment A delivers its 10 jobs')
  or diag('a.public.kjobs holds ' . count_topic('a.public.kjobs') . "\n" . bridge_log($a));

my $b = start_bridge($nb, undef, args($nb, 'b.'), '--create-slot');
streaming($b);
$nb->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'b' FROM generate_series(1, 10) g});
my $ok_b = wait_until(sub { count_topic('b.public.kjobs') == 10 || !$b->{h}->pumpable }, 60)
  && count_topic('b.public.kjobs') == 10;
ok($ok_b, 'deployment B (another server, another prefix, the same slot name) delivers its 10 jobs');
if (!$ok_b)
{
	diag('B: ' . join("\n", grep { /ERROR|FATAL|another source/ } split /\n/, bridge_log($b)));
	# do what B's error says
	$b->{h}->kill_kill unless !$b->{h}->pumpable;
	$b = start_bridge($nb, undef, args($nb, 'b.'), '--accept-new-source');
	ok(wait_until(sub { count_topic('b.public.kjobs') == 10 }, 60),
		'B with --accept-new-source delivers');
}

# A's next session: any reconnect
stop_bridge($a, 'KILL');
$a = start_bridge($na, undef, args($na, 'a.'));
$na->safe_psql('postgres', q{INSERT INTO kjobs SELECT g, 'a' FROM generate_series(11, 20) g});
my $ok_a = wait_until(sub { count_topic('a.public.kjobs') == 20 || !$a->{h}->pumpable }, 60)
  && count_topic('a.public.kjobs') == 20;
ok($ok_a, 'deployment A keeps delivering after a restart (20 jobs)');
diag('A: ' . join("\n", grep { /ERROR|FATAL|another source/ } split /\n/, bridge_log($a))) if !$ok_a;

stop_bridge($a) if $a->{h}->pumpable;
stop_bridge($b) if $b->{h}->pumpable;
stop_kafka_mock($kafka);
done_testing();
