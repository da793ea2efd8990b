# ATTACK (fails on main): two slots (ka, kb) selecting the same table write
# the same Kafka topic, both bridges started before either wrote.  The
# promise (issue 10, docs/kafka.md "one topic is written by one source"):
# a second source on a topic is never silently accepted.  Observed: both
# bridges run on, every job lands twice (once per source), and a restart
# of either bridge is refused only if the *other* source happens to own
# the last message of some partition.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start(["$root/test/helpers/kafka-mock", '1'], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;
$mout = '';
$min .= "create public.kw 4\n";
$mock->pump until $mout =~ /\n/;

my $node = new_node('twoslots');
$node->safe_psql('postgres', q{
	CREATE TABLE kw (id bigserial PRIMARY KEY, k int);
	SELECT pg_create_logical_replication_slot('ka', 'wal2queue');
	SELECT pg_create_logical_replication_slot('kb', 'wal2queue');
});
my @sink = ('--sink', "kafka://$bootstrap", '--tables', 'public.kw', '--status-interval', '1');
my $a = start_bridge($node, undef, '--slot', 'ka', @sink);
my $b = start_bridge($node, undef, '--slot', 'kb', @sink);
sleep 2;
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', 'INSERT INTO kw (k) SELECT g FROM generate_series(1, 100) g');
	sleep 1;
}
sleep 3;
my ($out, $err) = ('', '');
IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.kw', '-o', 'beginning', '-e', '-J', '-q' ],
	'>', \$out, '2>', \$err, IPC::Run::timeout(60));
my @m = grep { /^\{/ } split /\n/, $out;
my $alive = ($a->{h}->pumpable ? 1 : 0) + ($b->{h}->pumpable ? 1 : 0);
diag(scalar(@m) . " messages for 500 jobs; bridges still running: $alive");
ok($alive < 2, 'one of two sources writing one topic is refused (exit 1) during the session');
ok(scalar(@m) <= 500, 'no job is on the topic twice');
$a->{h}->kill_kill; $b->{h}->kill_kill;
$node->stop;
$min .= "quit\n";
$mock->finish;
done_testing();
