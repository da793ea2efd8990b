# What: a --dbname listing several hosts (the usual failover list,
# "host=pg1,pg2 target_session_attrs=read-write connect_timeout=3") whose
# first host is silent (a failed primary blackholed, a dead VM whose
# address still answers SYN through a load balancer).  libpq gives each
# host connect_timeout and then tries the next (psql, and any
# PQconnectdb, connect to the second host after 3 s); the bridge drives
# PQconnectPoll itself and gives the WHOLE attempt connect_timeout (or,
# without it, session 8's default bound), so it gives up exactly when
# libpq would move on: every attempt ends "timeout expired" on the first
# host, the second is never tried, the bridge never streams.  The error's
# own hint (set connect_timeout) does not help.
# Why: bridge/pgerror.c poll_connection(): one deadline for the whole
# PQconnectPoll loop, not per host (libpq's connectDBComplete() restarts
# the timer for each host and address: try_next_host).
# Expected: the bridge connects as libpq does: the bound applies to each
# host (and address), and on expiry the next one is tried; here it
# streams through the second host.
# Severity: medium -- a failover conninfo fails exactly in the failover
# it was written for (no loss: nothing streams, the bridge retries
# forever with a clear-looking but misleading error).
# Fixed: bridge/pgerror.c poll_connection() gives each host and address
# the bound (connect_timeout, or the default bound without it), starting
# it again whenever libpq moves on (PQhost(), PQport(), PQhostaddr()); one
# given up is left for the next host: connect_each_host() starts the
# attempt again from the next host of the list (libpq has no call to move
# on).  The remaining addresses of a host given up are not tried.  Checked
# here with connect_timeout and with the default bound (--recv-timeout 10);
# and a host NAME with two addresses, the first silent (an IPv6 address
# blackholed, a stale DNS record): libpq tries the second after
# connect_timeout; the bridge starts again with the host's later addresses
# as hostaddr entries under its name (targets_after()).  Needs unprivileged
# user and mount namespaces (a private /etc/hosts), else skipped.
# Control (W2Q_ATTACK_CONTROL=1): the same two hosts, the live one first:
# the bridge streams.
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('multi548');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE mj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('mj', 'wal2queue');
});
# a silent host: the kernel completes the handshake (listen backlog), no
# one ever answers
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my @hosts = ([ '127.0.0.1', $silent->sockport ], [ $node->host, $node->port ]);
@hosts = reverse @hosts if $control;
my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres connect_timeout=3',
	$hosts[0][0], $hosts[1][0], $hosts[0][1], $hosts[1][1]);

my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1', connstr => $conninfo);
is($out, '1', "libpq (psql) connects through the live host: $conninfo") or diag($err);

my $b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'mj', '--accept-new-source',
	'--status-interval', '1', '--recv-timeout', '5');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 40), 'the bridge streams through the live host')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
$node->safe_psql('postgres', 'INSERT INTO mj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.mj') eq '1' }, 20), 'and delivers');
stop_bridge($b);
like(bridge_log($b), qr/no answer from host "127\.0\.0\.1" .*within 3 s; trying the next address or host/,
	'the silent host is given up after connect_timeout, the next one tried') unless $control;

# the default bound (no connect_timeout: --recv-timeout 10, each host 10 s)
(my $nobound = $conninfo) =~ s/ connect_timeout=3//;
$b = start_bridge($node, $r, '-d', $nobound, '--slot', 'mj', '--accept-new-source',
	'--status-interval', '1', '--recv-timeout', '10');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 40),
	'without connect_timeout the bridge streams through the live host too')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
$node->safe_psql('postgres', 'INSERT INTO mj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.mj') eq '2' }, 20), 'and delivers');
stop_bridge($b);
# one host name, two addresses: 127.0.0.1 silent, 127.0.0.2 a proxy to the
# node (a private /etc/hosts in a mount namespace of the bridge's own)
SKIP:
{
	skip 'no unprivileged user and mount namespaces (unshare)', 3
	  unless system('unshare --user --map-root-user --mount true >/dev/null 2>&1') == 0;
	skip 'the control has one address only', 3 if $control;
	my ($quiet, $front);
	for (1 .. 5)
	{
		$quiet = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
		  or die "listen: $!";
		$front = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.2', LocalPort => $quiet->sockport,
			ReuseAddr => 1) and last;
	}
	skip 'no free port on both 127.0.0.1 and 127.0.0.2', 3 unless $front;
	my (undef, undef, $proxy) = start_blackhole_proxy($node, listen => $front);
	my $dir = PostgreSQL::Test::Utils::tempdir();
	open(my $hf, '>', "$dir/hosts") or die;
	print $hf "127.0.0.1 w2q-two-addresses\n127.0.0.2 w2q-two-addresses\n";
	close $hf;
	open(my $wf, '>', "$dir/bridge") or die;
	print $wf "#!/bin/sh\nexec unshare --user --map-root-user --mount sh -c "
	  . "'mount --bind \"\$0\" /etc/hosts && exec \"\$@\"' '$dir/hosts' '" . bridge_path() . "' \"\$@\"\n";
	close $wf;
	chmod 0755, "$dir/bridge";
	local $ENV{W2Q_BRIDGE} = "$dir/bridge";
	my $user = getpwuid($<);
	$b = start_bridge($node, $r, '-d',
		sprintf('host=w2q-two-addresses port=%d dbname=postgres user=%s connect_timeout=3 sslmode=disable '
			  . 'gssencmode=disable', $quiet->sockport, $user),
		'--slot', 'mj', '--accept-new-source', '--status-interval', '1', '--recv-timeout', '5');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 40),
		'a host name whose first address is silent: the bridge streams through its second')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	like(bridge_log($b), qr/no answer from host "w2q-two-addresses" .*within 3 s; trying the next address/,
		'the silent address is given up after connect_timeout, the next one tried');
	$node->safe_psql('postgres', 'INSERT INTO mj VALUES (3)');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.mj') eq '3' }, 20), 'and delivers');
	stop_bridge($b);
	stop_blackhole_proxy($proxy);
}
stop_redis($r);
$node->stop;
done_testing();
