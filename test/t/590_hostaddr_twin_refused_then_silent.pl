# What: a --dbname whose host list names one host twice, told apart by
# hostaddr only ("host=db,db,/sock hostaddr=A,B,": a server's name for
# its certificate and .pgpass, two of its addresses), the first address
# failing at once (connect() refused before poll_connection() sees it:
# 255.255.255.255 here, EACCES or ENETUNREACH), the second silent, then a
# live socket.  libpq gives the silent address connect_timeout once and
# goes on (psql connects in ~3 s).  The fixes of 572 and 574 find the
# entry libpq is at by its host, port and address (PQhost(), PQport(),
# PQhostaddr()), not by counting its moves; host and port alone name the
# first twin, whose successor is the silent one again.
# Why: bridge/pgerror.c current_entry(): of entries with the same host and
# port, a hostaddr entry is libpq's only if PQhostaddr() is its address.
# Expected: the silent address is given up once per connection before the
# bridge streams, as many times as without the refused twin in front of it
# (a wrong match gives it up twice a connection).
# Severity: low -- one more bound per connection; no loss.  Where connect()
# to the refused address only fails later (another kernel), libpq moves
# within poll_connection() and the count of moves tells: the check holds
# either way.
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('twin590');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE mj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('mj', 'wal2queue');
});
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my $p = $silent->sockport;

# the silent address's expiries before the bridge streams
sub expiries
{
	my ($with_twin) = @_;
	my $conninfo = $with_twin
	  ? sprintf('host=db.invalid,db.invalid,%s hostaddr=255.255.255.255,127.0.0.1, port=%d,%d,%d '
		  . 'dbname=postgres connect_timeout=3', $node->host, $p, $p, $node->port)
	  : sprintf('host=db.invalid,%s hostaddr=127.0.0.1, port=%d,%d dbname=postgres connect_timeout=3',
		$node->host, $p, $node->port);
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1', connstr => $conninfo);
	is($out, '1', "libpq (psql) connects through the live host: $conninfo") or diag($err);
	my $b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'mj', '--accept-new-source',
		'--status-interval', '1', '--recv-timeout', '10');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 60), 'the bridge streams through the live host')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	my ($before) = bridge_log($b) =~ /\A(.*?)streaming slot "mj"/s;
	my @expired = ($before // '') =~ /no answer from host "db\.invalid" \(port $p\) [^\n]*trying the next address or host/g;
	note(join("\n", grep { /no answer|streaming/ } split /\n/, bridge_log($b)));
	stop_bridge($b);
	return scalar @expired;
}

my $plain = expiries(0);
my $twin = expiries(1);
cmp_ok($plain, '>=', 1, "without the twin, the silent address is given up once a connection ($plain)");
is($twin, $plain, 'a refused twin in front of it does not make the bridge wait for the silent address again');
stop_redis($r);
$node->stop;
done_testing();
