# W2QFaultsAck.pm -- a fault-matrix cell aimed at the moment between a
# job's hand-over and its acknowledgement (test/t/100, 110; see
# test/faults/README.md).
#
# Why a cell of its own: the ledger must not confirm a transaction before
# the sink acknowledged every one of its jobs.  A ledger that confirms one
# job early (mutate.sh ledger-one-job-early) confirms a single-job
# transaction as soon as its commit is read.  The kill -9 cells catch that
# only by luck: Redis acknowledges a transaction's jobs all at once, and a
# call already on the socket is executed even after the bridge died, so
# the early confirm loses nothing there; on Kafka the first transaction
# left waiting must have exactly one job on the stalled broker, and a
# status update must go out before the kill.  Here every transaction has
# one job and the sink keeps refusing or holding them for 2.5 s (Redis:
# a script answered BUSY to everyone else; Kafka: one of the brokers
# down) while status updates go out each second; then the bridge is
# killed.  A correct ledger confirms nothing of what waits; an early one
# confirms it all, and the verifier finds the jobs missing.  Two kills
# in three come without a stall: on Kafka the producer lingers 300 ms, so
# when a batch is acknowledged the next transactions are read but not yet
# sent, and a ledger confirming one transaction too early
# (mutate.sh ledger-next-txn) confirms one of those.
package W2QFaultsAck;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use Test::More;
use Time::HiRes qw(usleep);
use W2QFaults;
use W2QTest;

our @EXPORT = qw(single_job_kill_cell);

my $spin_lua = q{local t = redis.call('TIME')
	while true do
		local n = redis.call('TIME')
		if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > tonumber(ARGV[1]) then break end
	end return 1};

# the sink refuses (Redis: BUSY) or holds (Kafka: a broker down) what it
# is handed for about $secs; returns the undo
sub refuse_for
{
	my ($ctx, $secs) = @_;
	my $s = $ctx->{sink};
	if ($s->{kind} eq 'redis')
	{
		redis($s->{r}, 'CONFIG', 'SET', 'busy-reply-threshold', '10');
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ 'redis-cli', '-p', $s->{r}{port}, 'EVAL', $spin_lua, '0',
				int($secs * 1e6) ], '>', \$out, '2>', \$err);
		return sub {
			$h->finish;
			redis($s->{r}, 'CONFIG', 'SET', 'busy-reply-threshold', '5000');
		};
	}
	my $b = $s->{nbrokers} > 1 ? 1 + int(rand($s->{nbrokers})) : -1;
	kafka_cmd($s, "down $b");
	return sub { kafka_cmd($s, "up $b") };
}

sub single_job_kill_cell
{
	my ($node, $sink) = @_;
	run_cell(node => $node, sink => $sink,
		name => 'bridge kill -9 with single-job transactions unacknowledged',
		# Kafka: 300 ms of linger, so that whenever a batch is acknowledged the
		# transactions after it wait, not yet sent, in the producer
		bridge_args => $sink->{kind} eq 'kafka' ? [ '-X', 'linger.ms=300' ] : [],
		workload => { txns => 1_000_000, seconds => short_form() ? 10 : 16, pause_ms => 5,
			max_rows => 1, args => [ '--big-pct', 0, '--no-messages' ] },
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 5 : 7, sub {
				my ($i) = @_;
				# every third time the sink refuses or holds what it is handed
				my $stall = $i % 3 == 1;
				my $undo = $stall ? refuse_for($ctx, 2.5) : sub { };
				# past two status updates: an early confirm has reached the slot
				usleep($stall ? 2_100_000 : 700_000 + int(rand(400_000)));
				restart_bridge($ctx, 'KILL');
				$undo->();
			}, min => 0.3, spread => 0.6);
		});
}

1;
