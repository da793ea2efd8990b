# What: a --dbname host list whose first entry fails at once (a unix-socket
# directory with no server in it, a port nothing listens on: refused before
# poll_connection() sees it), then a silent host, then a live one.  libpq
# gives the silent host connect_timeout once and goes on to the live host
# (psql connects in ~3 s); the bridge gives the silent host the bound
# TWICE: the attempt restarted after it expired starts again AT the silent
# host, so every further failing-at-once entry in front of a silent one
# costs one more bound.
# Why: bridge/pgerror.c poll_connection() counts the hosts from the one
# libpq is at when polling starts (*host_index = 0), but
# PQconnectStartParams() already moved past the host that failed at once;
# connect_each_host() then passes that index to targets_after(), which
# counts from the first host of the list, and keeps the host just given
# up.
# Expected: the silent host is given up once per connection ("no answer
# from host ... trying the next address or host": 3 before the bridge
# streams, its precheck's and its stream's connections), with or without
# the dead entry in front of it; on main 6 with it (each connection waits
# 6 s instead of 3).
# Severity: low -- a failover list with a dead socket directory or a
# refusing host in front of a blackholed one connects late (one bound per
# such entry); no loss.  Reliable (deterministic).
# Fixed: bridge/pgerror.c current_entry(): the entry given up is the one
# libpq is at, found by its host, port and address (PQhost(), PQport(),
# PQhostaddr() against the attempt's lists), not counted from where
# polling started; the count of moves seen only orders equal entries
# (test 590).  The new attempt starts after it, so each host and address
# is tried once per connection, with or without entries that fail at once
# in front.
# Control: W2Q_ATTACK_CONTROL=1 leaves the failing-at-once entry out of
# the second run too (passes).
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('refused572');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE mj (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('mj', 'wal2queue');
});
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my $nodir = PostgreSQL::Test::Utils::tempdir() . '/no_server_here';
# the silent host's expiries before the bridge streams (the bridge opens
# a few connections to get there: its precheck, the stream's)
sub expiries
{
	my ($with_dead_entry) = @_;
	my @hosts = ([ '127.0.0.1', $silent->sockport ], [ $node->host, $node->port ]);
	unshift @hosts, [ $nodir, 5432 ] if $with_dead_entry;
	my $conninfo = sprintf('host=%s port=%s dbname=postgres connect_timeout=3',
		join(',', map { $_->[0] } @hosts), join(',', map { $_->[1] } @hosts));
	my $t0 = time();
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1', connstr => $conninfo);
	is($out, '1', "libpq (psql) connects through the live host: $conninfo") or diag($err);
	note(sprintf('psql took %d s', time() - $t0));
	my $b = start_bridge($node, $r, '-d', $conninfo, '--slot', 'mj', '--accept-new-source',
		'--status-interval', '1', '--recv-timeout', '10');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "mj"/ }, 60), 'the bridge streams through the live host')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	my ($before) = bridge_log($b) =~ /\A(.*?)streaming slot "mj"/s;
	my @expired = ($before // '') =~ /no answer from host "127\.0\.0\.1" [^\n]*trying the next address or host/g;
	note(join("\n", grep { /no answer|streaming/ } split /\n/, bridge_log($b)));
	stop_bridge($b);
	return scalar @expired;
}

my $plain = expiries(0);
my $dead_first = expiries(!$control);
cmp_ok($plain, '>=', 1, "without the dead entry, the silent host is given up once a connection ($plain)");
is($dead_first, $plain, 'a dead entry in front of it does not make the bridge wait for the silent host again');
stop_redis($r);
$node->stop;
done_testing();
