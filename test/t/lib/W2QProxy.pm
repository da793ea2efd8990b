# W2QProxy.pm -- a TCP proxy to a PostgreSQL node that can go silent
# without a FIN or RST (a stateful firewall that lost its table, a
# partition, a proxy whose server side died), for the tests of silent
# network paths (test/t/495, 496, 505, 545, 548, 549).  W2QTest loads it
# and exports start_blackhole_proxy() and stop_blackhole_proxy().
package W2QProxy;

use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(start_blackhole_proxy stop_blackhole_proxy);

# start_blackhole_proxy($node, %opt) -> (port, cut file, proxy pid): a
# forked TCP proxy on 127.0.0.1 to $node's Unix socket.  The test creates
# the cut file to make the path silent, may remove it to bring the path
# back, and kills the pid at the end.
# - The connections open when the cut file appears are frozen: kept open,
#   never read or written again.  close_on_cut => 1 closes them instead
#   (the server sees the client go); it defaults to W2Q_ATTACK_CONTROL,
#   the control of 495 and 496: pass close_on_cut => 0 where the control
#   is something else.
# - A connection accepted while the cut file exists is served in full,
#   unless hold_new => 1: it is held (accepted, never answered), or
#   startup_only => 1: only the client's startup packet reaches the server
#   and the server's answers come back (the client must not ask for SSL or
#   GSS encryption: sslmode=disable gssencmode=disable).  hold_new wins.
# - Once the cut file is gone, new connections are served in full (frozen
#   ones stay frozen); a new cut freezes the connections open then.
# - listen => $socket: accept on this listening socket instead of a new
#   one on 127.0.0.1 (its port is the one returned).
# - freeze_on => qr/.../: the first connection whose client sends bytes
#   matching it is frozen (or closed, close_on_cut) right after those bytes
#   reach the server, without a cut file: the server runs the command and
#   its answer is lost (once; later connections are served in full).
sub start_blackhole_proxy
{
	my ($node, %opt) = @_;
	my %known = map { $_ => 1 } qw(close_on_cut hold_new startup_only listen freeze_on);
	$known{$_} or die "start_blackhole_proxy: unknown option \"$_\"" for keys %opt;
	$opt{close_on_cut} //= $ENV{W2Q_ATTACK_CONTROL};
	my $dir = PostgreSQL::Test::Utils::tempdir();
	$opt{cut} = "$dir/cut";
	$opt{pgsock} = $node->host . '/.s.PGSQL.' . $node->port;
	$opt{listen} //= IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0,
		ReuseAddr => 1) or die "listen: $!";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return ($opt{listen}->sockport, $opt{cut}, $pid) if $pid;
	proxy_loop(\%opt);
	exit 0;
}

# the end of a test: the proxy process is killed and reaped
sub stop_blackhole_proxy
{
	my ($pid) = @_;
	kill 'KILL', $pid;
	waitpid($pid, 0);
}

# the proxy process: never returns (the test kills it)
sub proxy_loop
{
	my ($o) = @_;
	# peer: socket -> [ it, its peer ]; budget: client socket -> bytes it
	# may still send (startup_only; -1 until the packet's length is read)
	my $st = { sel => IO::Select->new($o->{listen}), peer => {}, held => [], budget => {} };
	my $was_cut = 0;
	while (1)
	{
		my $is_cut = -e $o->{cut};
		proxy_freeze($o, $st) if $is_cut && !$was_cut;
		$was_cut = $is_cut;
		for my $s ($st->{sel}->can_read(0.2))
		{
			if ($s == $o->{listen}) { proxy_accept($o, $st) }
			else { proxy_relay($st, $s, $o) }
		}
	}
}

# the cut: the connections open now are frozen (or closed)
sub proxy_freeze
{
	my ($o, $st) = @_;
	for my $pair (values %{ $st->{peer} })
	{
		$st->{sel}->remove(@$pair);
		if ($o->{close_on_cut}) { close $_ for @$pair }
		else { push @{ $st->{held} }, @$pair }
	}
	%{ $st->{peer} } = ();
	%{ $st->{budget} } = ();
}

sub proxy_accept
{
	my ($o, $st) = @_;
	my $c = $o->{listen}->accept or return;
	my $is_cut = -e $o->{cut};
	if ($is_cut && $o->{hold_new}) { push @{ $st->{held} }, $c; return }
	my $u = IO::Socket::UNIX->new(Peer => $o->{pgsock}) or do { close $c; return };
	$st->{peer}{"$c"} = [ $c, $u ];
	$st->{peer}{"$u"} = [ $u, $c ];
	delete $st->{budget}{"$c"};
	$st->{budget}{"$c"} = -1 if $is_cut && $o->{startup_only};
	$st->{sel}->add($c, $u);
}

sub proxy_relay
{
	my ($st, $s, $o) = @_;
	my $p = $st->{peer}{"$s"} or return;
	my $n = sysread($s, my $buf, 65536);
	if (!$n)
	{
		$st->{sel}->remove(@$p);
		delete @{ $st->{peer} }{ map { "$_" } @$p };
		delete @{ $st->{budget} }{ map { "$_" } @$p };
		close $_ for @$p;
		return;
	}
	$buf = startup_part($st->{budget}, "$s", $buf) if defined $st->{budget}{"$s"};
	syswrite($p->[1], $buf) if $buf ne '';
	if ($o && $o->{freeze_on} && !$st->{froze_on} && $buf =~ $o->{freeze_on}
		&& ref($p->[1]) =~ /UNIX/)
	{
		# the command reached the server: its answer will not come back
		$st->{froze_on} = 1;
		$st->{sel}->remove(@$p);
		delete @{ $st->{peer} }{ map { "$_" } @$p };
		if ($o->{close_on_cut}) { close $_ for @$p }
		else { push @{ $st->{held} }, @$p }
	}
}

# the part of $buf still within the client's startup packet (its length is
# the packet's first 4 bytes); what comes after it is dropped
sub startup_part
{
	my ($budget, $k, $buf) = @_;
	$budget->{$k} = unpack('N', $buf) if $budget->{$k} < 0 && length($buf) >= 4;
	return '' if $budget->{$k} < 0;
	my $take = $budget->{$k} < length($buf) ? $budget->{$k} : length($buf);
	$budget->{$k} -= $take;
	return substr($buf, 0, $take);
}

1;
