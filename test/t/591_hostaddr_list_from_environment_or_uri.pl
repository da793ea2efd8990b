# What: 574's failover list (a hostaddr for the first host only, the first
# silent, a unix socket second) written two other ways libpq reads: the
# hostaddr list in the environment (PGHOSTADDR="127.0.0.1,", host and port
# in --dbname) and a postgresql:// URI with the list in its query.  After
# the first host is given up, the bridge's new attempt must leave out
# hostaddr for the second; an empty keyword value is passed over by libpq
# and leaves PGHOSTADDR's (or --dbname's) two-entry list: "could not match
# 1 host names to 2 hostaddr values", never streaming.
# Why: bridge/pgerror.c conninfo_at(): the attempt's host, hostaddr and
# port lists are set in the first dbname's connection string (a URI parsed
# by PQconninfoParse()), empty ones as '' (set to nothing: neither the
# environment nor a service file fills them in).
# Expected: with either, the bridge streams through the second host, as
# psql connects with the same conninfo and environment; on main neither
# streams.
# Severity: medium-low, as 574 (no loss: the bridge retries forever).
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('env591');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE mj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('mj', 'wal2queue');
});
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
(my $sock = $node->host) =~ s{([^A-Za-z0-9._-])}{sprintf('%%%02X', ord($1))}ge;
my @cases = (
	[ 'PGHOSTADDR', { PGHOSTADDR => '127.0.0.1,' },
	  sprintf('host=pg1.invalid,%s port=%d,%d dbname=postgres connect_timeout=3',
		$node->host, $silent->sockport, $node->port) ],
	[ 'a URI', {},
	  sprintf('postgresql://pg1.invalid:%d,%s:%d/postgres?hostaddr=127.0.0.1,&connect_timeout=3',
		$silent->sockport, $sock, $node->port) ]);
my $n = 0;
for my $c (@cases)
{
	my ($name, $env, $conninfo) = @$c;
	my $b;
	{
		# psql and the bridge only (the test's own connections use their own)
		local %ENV = (%ENV, %$env);
		my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1', connstr => $conninfo);
		is($out, '1', "$name: libpq (psql) connects through the second host: $conninfo") or diag($err);
		$b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'mj', '--accept-new-source',
			'--status-interval', '1', '--recv-timeout', '10');
	}
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 40), "$name: the bridge streams through the second host")
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	$n++;
	$node->safe_psql('postgres', "INSERT INTO mj VALUES ($n)");
	ok(wait_until(sub { redis($r, 'XLEN', 'public.mj') eq "$n" }, 20), "$name: and delivers");
	stop_bridge($b);
}
stop_redis($r);
$node->stop;
done_testing();
