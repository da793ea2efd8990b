# What: the restarted connection attempt (572/574's fix) with the forms an
# operator writes a failover list and a password in: keywords with quotes,
# backslashes and spaces in the password and application_name, a URI with
# percent-encoded userinfo and query parameters, PGHOST/PGPORT/PGPASSWORD
# in the environment, a service file (PGSERVICEFILE) holding the lists and
# the password.  Each time the first host is silent (a listening socket
# that never answers: connect_timeout=2), the second is the node over TCP
# with scram-sha-256.
# Why: bridge/pgerror.c conninfo_at() writes the attempt's host, hostaddr
# and port lists and the dbname string's other options (re-quoted by
# text_add_option()) into the first dbname; current_entry() finds the
# entry given up.
# Expected: each form streams through the second host, with the same
# application_name, and the password appears nowhere in the bridge's log
# (-v).
# Held on main at b2515e5 (the review 620-629): a check, not a
# reproduction; a failure would be medium (a failover list that never
# connects) or high (a password in the logs).
# W2Q_ATTACK_CONTROL=1: the first host is the node itself (not silent).
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('conn621');
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\nmax_wal_senders = 10");
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 scram-sha-256\n");
$node->restart;
my $r = start_redis();
my $pw = q{p w'x\\y"z};
(my $pwsql = $pw) =~ s/'/''/g;
$node->safe_psql('postgres', qq{
	CREATE ROLE w2q LOGIN REPLICATION PASSWORD '$pwsql';
	CREATE TABLE cj (id int PRIMARY KEY);
	GRANT SELECT ON cj TO w2q;
});
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my $first = $control ? $node->port : $silent->sockport;
my $port = $node->port;
sub kw { my $v = shift; $v =~ s/([\\'])/\\$1/g; return "'$v'"; }
sub pct { my $v = shift; $v =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord($1))/ge; return $v; }
my $app = q{a b'c\\d};
my $svcfile = "$PostgreSQL::Test::Utils::tmp_check/pg_service621.conf";
open(my $fh, '>', $svcfile) or die;
print $fh "[w2qsvc]\nhost=127.0.0.1,127.0.0.1\nport=$first,$port\nuser=w2q\npassword=$pw\nconnect_timeout=2\n";
close $fh;
my @cases = (
	[ 'keywords', {},
	  "host=127.0.0.1,127.0.0.1 port=$first,$port dbname=postgres user=w2q password=" . kw($pw)
	  . ' application_name=' . kw($app) . ' connect_timeout=2' ],
	[ 'a URI', {},
	  'postgresql://w2q:' . pct($pw) . "\@127.0.0.1:$first,127.0.0.1:$port/postgres?application_name="
	  . pct($app) . '&connect_timeout=2&sslmode=disable' ],
	[ 'the environment', { PGHOST => '127.0.0.1,127.0.0.1', PGPORT => "$first,$port", PGPASSWORD => $pw,
		PGCONNECT_TIMEOUT => '2', PGAPPNAME => $app },
	  'dbname=postgres user=w2q' ],
	[ 'a service file', { PGSERVICEFILE => $svcfile },
	  'service=w2qsvc dbname=postgres application_name=' . kw($app) ],
	[ 'a service file and a plain database name', { PGSERVICEFILE => $svcfile, PGSERVICE => 'w2qsvc',
		PGAPPNAME => $app },
	  'postgres' ]);
my $n = 0;
for my $c (@cases)
{
	my ($name, $env, $conn) = @$c;
	$n++;
	my $slot = "cj$n";
	my $b;
	{
		# the bridge's environment only (the test's psql keeps its own)
		local @ENV{ keys %$env } = values %$env;
		$b = start_bridge($node, $r, '-d', $conn, '--slot', $slot, '--create-slot', '--tables', 'public.cj',
			'--target-prefix', "$slot:");
	}
	$node->safe_psql('postgres', "INSERT INTO cj VALUES ($n)") if wait_until(sub {
		$node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active") eq '1' }, 30);
	my $ok = wait_until(sub { (redis($r, 'XLEN', "$slot:public.cj") || 0) >= 1 }, 30);
	my $an = $node->safe_psql('postgres', "SELECT application_name FROM pg_stat_replication WHERE pid = "
		. "(SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot')");
	my ($gone) = sigterm_bridge($b);
	$b->{h}->kill_kill unless $gone;
	my $log = bridge_log($b);
	ok($ok, "$name: streams through the second host")
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, $log));
	is($an, $app, "$name: application_name kept") if $ok;
	like($log, qr/trying the next address or host/, "$name: the first host was given up") unless $control;
	my $leak = index($log, 'p w') >= 0 || index($log, pct($pw)) >= 0;
	ok(!$leak, "$name: the password is not in the log")
	  or diag(join("\n", grep { /p w|p%20w/ } split /\n/, $log));
}
stop_redis($r);
$node->stop('immediate');
done_testing();
