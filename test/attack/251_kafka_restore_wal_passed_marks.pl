# Attack review 4, the Kafka variant of 250: a server rolled back to a
# file-level copy on the same timeline is refused by
# test/t/206_kafka_restore_same_timeline.pl only while its WAL ends below the
# partition marks (kafka_marks.c, the check against src.wal_end).  The
# application keeps running on the restored server before the bridge starts
# again (5,000 rows into a table the bridge does not select): its WAL end
# passes the marks, the check passes, and its 10 new jobs, committed at LSNs
# below the partition's mark, are taken for delivered and skipped silently.
# Expected: the 10 jobs are delivered, or the bridge stops loudly.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use IPC::Run;

my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start(["$root/test/helpers/kafka-mock", '1'], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;
$mout = '';
$min .= "create public.rj 1\n";
$mock->pump until $mout =~ /\n/;
sub count
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.rj', '-o', 'beginning', '-e', '-q', '-f', '%o\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return scalar(grep { /^\d+$/ } split /\n/, $out);
}

my $node = new_node('restore_kpassed');
my $r = undef;
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
$node->safe_psql('postgres', 'CREATE TABLE other (id int, pad text)');
my $b = start_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { count() == 10 }, 30), 'first jobs delivered');
stop_bridge($b);

# a cold file-level copy of the server (slot included)
$node->stop('fast');
my $data = $node->data_dir;
system("cp -a $data $data.snap") == 0 or die "copy failed";
$node->start;
$b = start_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 5000) g");
ok(wait_until(sub { count() == 5000 }, 60), 'more jobs delivered on the original');
stop_bridge($b);

# the original is rolled back to the copy; the application goes on
$node->stop('fast');
system("rm -rf $data && mv $data.snap $data") == 0 or die "swap failed";
$node->start;
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 8000) g");
$b = start_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable || count() == 5010 }, 20);
sleep 3;
my $stopped = !$b->{h}->pumpable;
my $delivered = count() == 5010;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", topic holds " . count()
	. ", slot confirmed " . slot_confirmed($node, 'sr'));
ok($stopped || $delivered, 'the 10 jobs of the restored server are delivered, or the bridge stops loudly');
$b->{h}->kill_kill if $b->{h}->pumpable;
$min .= "quit\n"; $mock->finish;
$node->stop;
done_testing();
