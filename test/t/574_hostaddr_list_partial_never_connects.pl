# What: a --dbname whose hostaddr list names the first host's address only
# ("host=pg1,/run/pg hostaddr=10.0.0.1, port=5432,5432": skip DNS for
# pg1, a local socket as the fallback), the first host silent.  libpq
# gives it connect_timeout and connects through the second (psql does);
# the bridge gives the first up and starts a new attempt from the second
# whose hostaddr list is empty, an empty value "sets nothing", so the
# user's two-entry hostaddr list comes back from --dbname: "could not
# match 1 host names to 2 hostaddr values".  Every attempt ends so; the
# bridge never streams.
# Why: bridge/pgerror.c start_from(): the remaining targets'
# host/hostaddr/port are passed as later keywords that override
# --dbname's, but an empty hostaddr (or port) list is ignored by libpq, so
# --dbname's longer list stays; targets_after() built a one-entry host
# list.
# Expected: the bridge streams through the second host, as psql connects.
# Severity: medium-low -- a failover conninfo that psql accepts never
# connects in the failover it was written for (no loss: the bridge retries
# forever).  Reliable (deterministic).
# Fixed: bridge/pgerror.c start_from(), conninfo_at(): the new attempt's
# host, hostaddr and port lists are set in the connection string of the
# first dbname (PQconninfoParse(), a URI as well), which replaces --dbname's
# lists, and empty ones as '' (set to nothing, where an empty keyword is
# passed over); host, hostaddr and port keywords are left out.  Lists of
# other lengths than the host list are libpq's to refuse, at the first
# attempt, as psql does; the new attempt's lists always match.  The
# environment's and a URI's lists: test 591.
# Control: W2Q_ATTACK_CONTROL=1 gives no hostaddr (host=127.0.0.1 for
# the silent one): the bridge streams through the second (passes).
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('haddr574');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE mj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('mj', 'wal2queue');
});
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my $conninfo = $control
  ? sprintf('host=127.0.0.1,%s port=%d,%d dbname=postgres connect_timeout=3',
	$node->host, $silent->sockport, $node->port)
  : sprintf('host=pg1.invalid,%s hostaddr=127.0.0.1, port=%d,%d dbname=postgres connect_timeout=3',
	$node->host, $silent->sockport, $node->port);

my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1', connstr => $conninfo);
{
	is($out, '1', "libpq (psql) connects through the second host: $conninfo") or diag($err);
	my $b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'mj', '--accept-new-source',
		'--status-interval', '1', '--recv-timeout', '10');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 40), 'the bridge streams through the second host')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	$node->safe_psql('postgres', 'INSERT INTO mj VALUES (1)');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.mj') eq '1' }, 20), 'and delivers');
	stop_bridge($b);
}
stop_redis($r);
$node->stop;
done_testing();
