# W2QFaultsLagging.pm -- a fault-matrix cell (test/t/103, 113; see
# test/faults/README.md): a physical standby that LACKED committed WAL is
# promoted.
#
# The standby stops receiving WAL (its server stopped, primary_conninfo
# emptied) while the primary commits a round of the workload that the
# bridge delivers; then the primary goes away, the standby is promoted,
# the slot is created there and the bridge pointed at it with
# --accept-new-source, the documented failover step (docs/operations.md).
# The sink now holds jobs of the same system at positions past the new
# server's WAL end: jobs the new primary does not have, and positions its
# own new commits will reach again.  The bridge must stop with exit 1 and
# the rollback error instead of skipping those commits as delivered (or
# sending anything twice); then the recovery the error names works: on
# Redis, delete the progress record and start with --accept-new-source
# (the same streams hold both servers' jobs, each once); on Kafka, write
# to new topics (another --target-prefix).
package W2QFaultsLagging;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QFaults;
use W2QTest;

our @EXPORT = qw(lagging_standby_cell);

my $root = $ENV{W2Q_ROOT};

# the truth of a server (its committed jobs), less the ids in $except
sub dump_truth
{
	my ($node, $file, $except) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$root/test/faults/w2q-verify", '--pg', $node->connstr('postgres'), '--dump-truth' ],
		'>', \$out, '2>', \$err) or die "could not dump the truth: $err";
	if (defined $except)
	{
		my %old = map { (split)[0] => 1 } split /^/, slurp_file($except);
		$out = join '', grep { !$old{ (split)[0] } } split /^/, $out;
	}
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $out;
	close $fh;
}

# the bridge against the promoted standby stops: exit 1 and the rollback
sub expect_rollback
{
	my ($ctx, $b) = @_;
	my $rc = wait_bridge_exit($b, 60);
	ok(defined $rc && $rc == 1, "$ctx->{name}: the bridge stops with exit 1")
	  or diag('exit ' . ($rc // 'none (still running)') . "\n" . bridge_tail($b, 15));
	like(bridge_log($b), qr/ERROR.*past where this slot begins on the same system/,
		"$ctx->{name}: the error says the sink holds positions past where the new slot begins")
	  or diag(bridge_tail($b, 15));
	stop_bridge($b) if $b->{h}->pumpable;
	return bridge_log($b);
}

sub lagging_standby_cell
{
	my ($sink) = @_;
	return unless cell_wanted('standby lacking WAL');
	my $kind = $sink->{kind};
	my $a = faults_node("lag_a_$kind");
	$a->backup('b1');
	my $s = PostgreSQL::Test::Cluster->new("lag_s_$kind");
	$s->init_from_backup($a, 'b1', has_streaming => 1);
	$s->start;
	my $ctx = { node => $a, sink => $sink, name => "$kind promoted standby lacking WAL" };
	cell_setup($ctx);
	$ctx->{bridge} = start_cell_bridge($ctx, '--create-slot');
	wait_until(sub { $a->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots
		WHERE slot_name = '$ctx->{slot}'") eq '1' }, 30);
	workload_wait(workload_start($ctx, base => 1));
	ok(sentinel_wait($ctx), "$ctx->{name}: the first round arrives (the standby has it)");
	$a->wait_for_catchup($s);
	# the standby stops receiving: what follows is delivered but never reaches it
	$s->stop('fast');
	$s->append_conf('postgresql.conf', "primary_conninfo = ''\n");
	workload_wait(workload_start($ctx, base => 2));
	ok(sentinel_wait($ctx), "$ctx->{name}: the second round arrives (the standby lacks it)");
	my $truth_a = "$PostgreSQL::Test::Utils::tmp_check/truth_a_$ctx->{slot}";
	dump_truth($a, $truth_a);
	stop_bridge($ctx->{bridge});
	$a->stop('fast');
	$s->start;
	$s->promote;
	W2QFaults::recreate_slot($s, $ctx->{slot});
	$ctx->{node} = $s;
	# new commits on the new primary, at positions the sink already holds
	my $w = workload_start($ctx, base => 300, txns => 30);
	my $log = expect_rollback($ctx, start_cell_bridge($ctx, '--accept-new-source'));
	workload_wait($w);

	# the recovery the error names
	if ($kind eq 'redis')
	{
		my ($key) = $log =~ /Redis progress record "([^"]+)"/;
		ok(defined $key && redis($sink->{r}, 'DEL', $key) == 1,
			"$ctx->{name}: the error names the progress record to delete");
	}
	else
	{
		like($log, qr/another --target-prefix/, "$ctx->{name}: the error names the recovery");
		$ctx->{prefix} = "$ctx->{prefix}after.";
	}
	$ctx->{bridge} = start_cell_bridge($ctx, '--accept-new-source');
	ok(sentinel_wait($ctx), "$ctx->{name}: after the recovery the new primary's jobs arrive")
	  or diag(bridge_tail($ctx->{bridge}, 15));
	if ($kind eq 'redis')
	{
		# the old primary's jobs (all of them) and the new one's, each once;
		# each server's in its own commit order
		verify_cell($ctx, pg => [ $s->connstr('postgres') ], truth => [$truth_a], split_base => 300);
	}
	else
	{
		# new topics: exactly the new primary's jobs since the promotion
		my $truth_s = "$PostgreSQL::Test::Utils::tmp_check/truth_s_$ctx->{slot}";
		dump_truth($s, $truth_s, $truth_a);
		verify_cell($ctx, pg => [], truth => [$truth_s]);
	}
	$_->{h}->pumpable && stop_bridge($_) for @{ $ctx->{bridges} };
	$s->stop;
}

1;
