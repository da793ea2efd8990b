# ATTACK (fails on main), the Kafka variant of 204: the server behind the conninfo is rolled back to a
# file-level copy (VM/storage snapshot, cold backup restored without PITR):
# same system identifier, same timeline 1, same slot -- but its WAL ends
# below the LSN that the partition marks (last message's lsn/seq) already hold.  New jobs
# committed on the restored server get LSNs at or below the record, and the
# Redis function counts them "delivered before": they are skipped, the slot
# confirms them, nothing is logged.  Expected (issue 10, "a restore ... never
# silently accepted"): the bridge stops with exit 1 since the record is
# ahead of the server's WAL end (IDENTIFY_SYSTEM xlogpos), or delivers them.
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

my $node = new_node('restore');
my $r = undef;
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_streaming_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { count() == 10 }, 30), 'first jobs delivered');
stop_bridge($b);

# a cold file-level copy of the server (slot included)
cold_copy($node);
$b = start_streaming_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 5000) g");
ok(wait_until(sub { count() == 5000 }, 60), 'more jobs delivered on the original');
stop_bridge($b);

# the original is rolled back to the copy; the application goes on
restore_cold_copy($node);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$b = start_bridge($node, undef, '--sink', "kafka://$bootstrap", '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable || count() == 5010 }, 20);
my $stopped = !$b->{h}->pumpable;
my $delivered = count() == 5010;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", topic holds " . count()
	. ", slot confirmed " . slot_confirmed($node, 'sr'));
ok($stopped || $delivered, 'the 10 jobs of the restored server are delivered, or the bridge stops loudly');
like(bridge_log($b), qr/past the server's WAL end [0-9A-F]+\/[0-9A-F]+: the server was rolled back/,
	'it stops saying the server was rolled back');
$b->{h}->kill_kill if $b->{h}->pumpable;
$min .= "quit\n"; $mock->finish;
$node->stop;
done_testing();
