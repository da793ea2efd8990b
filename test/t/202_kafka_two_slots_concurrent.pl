# Two bridges of different slots writing one Kafka topic AT THE SAME TIME
# (issue 10, case 5; from the attack review, test/attack/README.md): the
# marks catch another source only when a session reads a topic, so two
# bridges that both read empty marks ran on and wrote every job twice.
# Now a gap between two of a bridge's own messages in a partition is read
# back (bridge/kafka_gaps.c): another source there stops it with exit 1
# naming both sources, while both run.
#
# Both bridges start with --accept-new-source, so neither is refused by
# the other's marks when the session begins, whichever reads first: what
# stops them is the gap check (the flag accepts a topic's past, never a
# source writing at the same time).  Then the same with
# --kafka-transactions (a commit's control record is an expected gap of
# one offset), and one transactional bridge alone, whose commit records
# must not be taken for another writer.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $kafka = start_kafka_mock();
my $bootstrap = $kafka->{bootstrap};
sub mock_cmd { return kafka_mock_cmd($kafka, @_) }

sub topic_count
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', '%o\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return scalar(() = $out =~ /^\d+$/mg);
}

my $node = new_node('twoslots');
$node->safe_psql('postgres', 'CREATE TABLE kw (id bigserial PRIMARY KEY, k int)');

# two bridges, one topic (prefix), both started before either wrote
sub two_bridges
{
	my ($name, $tag, @extra) = @_;
	my $prefix = "$tag.";
	mock_cmd("create ${prefix}public.kw 4");
	$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('${tag}a', 'wal2queue');
		SELECT pg_create_logical_replication_slot('${tag}b', 'wal2queue')");
	my @sink = ('--sink', "kafka://$bootstrap", '--tables', 'public.kw', '--status-interval', '1',
		'--target-prefix', $prefix, '--accept-new-source', @extra);
	my @b = map { start_bridge($node, undef, '--slot', "$tag$_", @sink) } qw(a b);
	sleep 1;
	for my $i (1 .. 10)
	{
		$node->safe_psql('postgres', 'INSERT INTO kw (k) SELECT g FROM generate_series(1, 50) g');
		last if wait_until(sub { !$b[0]{h}->pumpable || !$b[1]{h}->pumpable }, 1);
	}
	wait_until(sub { !$b[0]{h}->pumpable && !$b[1]{h}->pumpable }, 5);
	my @stopped = grep { !$_->{h}->pumpable } @b;
	ok(@stopped >= 1, "$name: a bridge stops while both write the topic");
	for my $x (@stopped)
	{
		$x->{h}->finish;
		is($x->{h}->full_result(0) >> 8, 1, "$name: with exit 1");
		like(bridge_log($x),
			qr/ERROR.*between two messages of this bridge, holds a message of another source: \S+\/${tag}[ab], this bridge streams \S+\/${tag}[ab]/,
			"$name: its error names both sources");
	}
	$_->{h}->pumpable && $_->{h}->kill_kill for @b;
	$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('${tag}a');
		SELECT pg_drop_replication_slot('${tag}b')");
}

two_bridges('two slots', 'p1');
two_bridges('two slots with transactions', 'p2', '--kafka-transactions');

# one transactional bridge alone: each commit leaves a control record
# between its transactions' messages; that is no other writer
mock_cmd('create p3.public.kw 4');
$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('p3a', 'wal2queue')");
my $b = start_bridge($node, undef, '--slot', 'p3a', '--sink', "kafka://$bootstrap", '--tables',
	'public.kw', '--status-interval', '1', '--target-prefix', 'p3.', '--kafka-transactions');
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM kw');
for my $i (1 .. 20)
{
	$node->safe_psql('postgres', "INSERT INTO kw (k) SELECT g FROM generate_series(1, $i) g");
}
my $want = $node->safe_psql('postgres', 'SELECT count(*) FROM kw') - $before;
ok(wait_until(sub { topic_count('p3.public.kw') >= $want }, 60), 'transactions alone: every job arrives');
is(topic_count('p3.public.kw'), $want, 'transactions alone: each once');
ok($b->{h}->pumpable, 'transactions alone: the bridge runs on');
unlike(bridge_log($b), qr/written by someone else/, 'transactions alone: no gap but commit records');
stop_bridge($b);

stop_kafka_mock($kafka);
done_testing();
