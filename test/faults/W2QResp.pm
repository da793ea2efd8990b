# W2QResp.pm -- a minimal Redis client (RESP2 over TCP) for the fault
# matrix's verifier and poller: no redis-cli process per call, replies as
# Perl values (arrays for multi-bulk, undef for nil, an error reply as a
# W2QResp::Error object).
package W2QResp;

use strict;
use warnings;
use IO::Socket::INET;

sub new
{
	my ($class, $host, $port, %opts) = @_;
	my $s = IO::Socket::INET->new(
		PeerAddr => $host,
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => $opts{timeout} // 5) or return undef;
	$s->autoflush(1);
	return bless { s => $s, buf => '' }, $class;
}

sub command
{
	my ($self, @args) = @_;
	my $req = '*' . scalar(@args) . "\r\n";
	$req .= '$' . length($_) . "\r\n$_\r\n" for @args;
	my $s = $self->{s};
	print $s $req or die "redis: write failed: $!\n";
	return $self->_reply;
}

sub _fill
{
	my ($self) = @_;
	my $n = sysread($self->{s}, my $chunk, 1 << 20);
	die "redis: connection lost\n" unless $n;
	$self->{buf} .= $chunk;
}

sub _line
{
	my ($self) = @_;
	my $i;
	$self->_fill while ($i = index($self->{buf}, "\r\n")) < 0;
	my $line = substr($self->{buf}, 0, $i);
	substr($self->{buf}, 0, $i + 2) = '';
	return $line;
}

sub _reply
{
	my ($self) = @_;
	my $line = $self->_line;
	my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
	return $rest if $t eq '+' || $t eq ':';
	return bless({ msg => $rest }, 'W2QResp::Error') if $t eq '-';
	if ($t eq '$')
	{
		return undef if $rest < 0;
		$self->_fill while length($self->{buf}) < $rest + 2;
		my $v = substr($self->{buf}, 0, $rest);
		substr($self->{buf}, 0, $rest + 2) = '';
		return $v;
	}
	if ($t eq '*')
	{
		return undef if $rest < 0;
		return [ map { $self->_reply } 1 .. $rest ];
	}
	die "redis: bad reply \"$line\"\n";
}

sub is_error { return ref($_[0]) eq 'W2QResp::Error' }

1;
