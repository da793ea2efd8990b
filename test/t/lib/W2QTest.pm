# W2QTest.pm -- helpers for wal2queue's integration tests: a PostgreSQL node
# ready for wal2queue, a throwaway redis-server, the bridge as a child
# process, and polling.  Every server runs on loopback on a free port in a
# temporary directory and is stopped by the test (or at exit).
package W2QTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(new_node start_redis stop_redis redis redis_json start_bridge
  stop_bridge bridge_log wait_until free_port stream_entries slot_confirmed
  bridge_path run_bridge wait_attested restrict_messages start_kafka_mock
  kafka_mock_cmd stop_kafka_mock);

my @children;

sub free_port
{
	my $s = IO::Socket::INET->new(
		Listen => 1,
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		ReuseAddr => 1) or die "no free port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

sub bridge_path { return $ENV{W2Q_BRIDGE} }

# a node with wal_level=logical and wal2queue allow-listed
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my $libs = $opts{no_allow_list} ? "'pgoutput, test_decoding'"
	  : "'pgoutput, test_decoding, wal2queue'";
	$node->append_conf('postgresql.conf', "output_plugin_libraries = $libs\n"
		  . "max_replication_slots = 10\nmax_wal_senders = 10\n"
		  . ($opts{conf} // ''));
	$node->start;
	return $node;
}

# what CREATE EXTENSION wal2queue does for messages: without it the plugin
# ignores wal2queue messages, which any role could emit (plugin/FORMAT.md)
sub restrict_messages
{
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres', q{
		REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
			pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC});
}

sub start_redis
{
	my (%opts) = @_;
	my $port = $opts{port} // free_port();
	my $dir = $opts{dir} // tempdir(CLEANUP => 1);
	my @cmd = ('redis-server', '--port', $port, '--bind', '127.0.0.1',
		'--save', '', '--appendonly', 'no', '--dir', $dir,
		@{ $opts{args} // [] });
	my $h = IPC::Run::start(\@cmd, '>', "$dir/redis.log", '2>&1');
	my $r = { port => $port, dir => $dir, h => $h };
	push @children, $h;
	wait_until(sub { (redis($r, 'PING') // '') eq 'PONG' }, 10)
	  or die "redis-server did not start on port $port";
	return $r;
}

sub stop_redis
{
	my ($r, $signal) = @_;
	$r->{h}->signal($signal // 'TERM');
	$r->{h}->finish;
}

# one redis-cli call, raw output, trailing newline removed
sub redis
{
	my ($r, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'redis-cli', '-p', $r->{port}, '--raw', @args ],
		'>', \$out, '2>', \$err);
	chomp $out;
	return $out;
}

sub redis_json
{
	my ($r, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'redis-cli', '-2', '-p', $r->{port}, '--json', @args ],
		'>', \$out, '2>', \$err);
	return undef if $out eq '';
	return JSON::PP->new->allow_nonref->decode($out);
}

# every entry of a stream as [id, {field => value}]
sub stream_entries
{
	my ($r, $key) = @_;
	my $x = redis_json($r, 'XRANGE', $key, '-', '+') // [];
	return [ map { [ $_->[0], { @{ $_->[1] } } ] } @$x ];
}

# run the bridge in the background; output goes to a log file
sub start_bridge
{
	my ($node, $r, @args) = @_;
	my $log = $PostgreSQL::Test::Utils::tmp_check . "/bridge_" . time() . "_$$.log";
	# a -d or --sink among the arguments replaces the default one (the
	# bridge refuses an option given twice)
	my $own_d = grep { $_ eq '-d' || $_ eq '--dbname' || /^--dbname=/ } @args;
	my $own_sink = grep { $_ eq '--sink' || /^--sink=/ } @args;
	my @cmd = (bridge_path(), ($own_d ? () : ('-d', $node->connstr('postgres'))),
		($r && !$own_sink ? ('--sink', "redis://127.0.0.1:$r->{port}") : ()), '-v', @args);
	my $h = IPC::Run::start(\@cmd, '>', $log, '2>&1');
	push @children, $h;
	return { h => $h, log => $log };
}

sub stop_bridge
{
	my ($b, $signal) = @_;
	$b->{h}->signal($signal // 'TERM');
	$b->{h}->finish;
	return $b->{h}->full_result(0);
}

sub bridge_log
{
	my ($b) = @_;
	return -f $b->{log} ? slurp_file($b->{log}) : '';
}

# run the bridge to completion: (exit status, output)
sub run_bridge
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ bridge_path(), @args ], '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	$h->finish;
	return ($h->full_result(0) >> 8, $out . $err);
}

sub wait_until
{
	my ($cb, $timeout) = @_;
	my $deadline = time() + ($timeout // 60);
	while (time() < $deadline)
	{
		return 1 if $cb->();
		usleep(100_000);
	}
	return 0;
}

sub slot_confirmed
{
	my ($node, $slot) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}

# wait until a bridge attested slot $slot (wal2queue.attest_slot()) at or
# past the position it has confirmed now: prune() counts that far
sub wait_attested
{
	my ($node, $slot, $timeout) = @_;
	my $at = slot_confirmed($node, $slot);
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT attested_lsn >= '$at' FROM wal2queue.slots WHERE slot_name = '$slot'") eq 't' },
		$timeout);
}

# librdkafka's mock cluster (test/helpers/kafka-mock) with $brokers brokers
# (1 unless given), driven over its stdin; returns { h, bootstrap, ... }
sub start_kafka_mock
{
	my ($brokers) = @_;
	my $root = $ENV{W2Q_ROOT};
	my $k = { in => '', out => '', err => '' };
	$k->{h} = IPC::Run::start([ "$root/test/helpers/kafka-mock", $brokers // '1' ],
		\$k->{in}, \$k->{out}, \$k->{err});
	$k->{h}->pump until $k->{out} =~ /\n/;
	($k->{bootstrap}) = $k->{out} =~ /^(\S+)/;
	return $k;
}

# one command to the mock cluster; true if it answered ok
sub kafka_mock_cmd
{
	my ($k, $cmd) = @_;
	$k->{out} = '';
	$k->{in} .= "$cmd\n";
	$k->{h}->pump until $k->{out} =~ /\n/;
	return $k->{out} =~ /^ok/;
}

# ask the mock cluster to quit and wait for it
sub stop_kafka_mock
{
	my ($k) = @_;
	$k->{in} .= "quit\n";
	$k->{h}->finish;
}

END
{
	for my $h (@children)
	{
		eval { $h->kill_kill if $h->pumpable; };
	}
}

1;
