# Fixed: bridge/pgconnect.c pgerror_conninfo_same_server() keeps
# PQhostaddr() whatever PQhost() says: a connection with an address went
# by TCP to it even when its host is a socket directory (PGHOST, a service
# file), and one over a Unix socket has no PQhostaddr().  The watch reaches
# the stream's server by TCP and the slot is attested.
#
# What: --dbname gives the server by address (hostaddr=127.0.0.1 port=N),
# and the environment has PGHOST set to a socket directory (common in
# containers and on hosts with a local server; a service file's host does
# the same).  libpq connects by TCP to hostaddr (the host is then only a
# name for authentication), so the stream reaches the server.  The watch
# is pinned to host=<that directory>, hostaddr='' (a socket directory "has
# no address"): it connects to the Unix socket <dir>/.s.PGSQL.N instead --
# another server there (a local cluster on the same port number; here a
# second test server behind a symlink), or none.  The slot the stream
# reads is never attested; the watch's health, publication polls and keys
# are that other server's (or missing).
# Why: bridge/pgconnect.c pgerror_conninfo_same_server(): it drops the
# address when PQhost() is a socket directory, but PQhost() returns the
# host entry even when libpq connected to hostaddr by TCP (libpq's
# connectOptions2(): a host entry with a hostaddr is CHT_HOST_ADDRESS,
# whatever its host says).
# Expected: the pin reaches the server the stream reached: with a
# hostaddr, by TCP to it (keep hostaddr; only a connection made over a
# Unix socket -- no PQhostaddr() -- goes by directory).
# Severity: medium -- any --dbname by hostaddr under a PGHOST that names a
# socket directory: no attestation ever (prune() deletes nothing of the
# slot's), no health, and with pgoutput a publication proved on another
# server or never (the stream dropped every 5 s).
# Reliable (deterministic; the other server's log shows the watch's health
# and probe queries).  New with the pin (0f22343): before it the watch
# connected with --dbname as the stream does, by TCP to hostaddr.
#
# Control (W2Q_ATTACK_CONTROL=1): PGHOST names the stream's server's own
# socket directory: the watch reaches the same server and the slot is
# attested.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('tcp703');
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$node->restart;
my $other = new_node('other703');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sa (id int PRIMARY KEY);
});
# PGHOST: a socket directory where port N is another server
my $dir = PostgreSQL::Test::Utils::tempdir_short();
symlink($other->host . '/.s.PGSQL.' . $other->port, "$dir/.s.PGSQL." . $node->port)
  or die "symlink: $!";
local $ENV{PGHOST} = $control ? $node->host : $dir;
my $b = start_bridge($node, $r, '-d', 'hostaddr=127.0.0.1 port=' . $node->port . ' dbname=postgres',
	'--slot', 'sa', '--create-slot', '--status-interval', '1');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT coalesce(max(id), 0) + 1 FROM sa');
	(redis($r, 'XLEN', 'public.sa') || 0) >= 1 }, 30), 'sa: streaming (by TCP to hostaddr)')
  or diag(bridge_log($b));
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT max(id) + 1 FROM sa');
	$node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 20),
	"sa: the slot is attested (the watch reached the stream's server)")
  or diag(join("\n", grep { /slot watch|attest/ } split /\n/, bridge_log($b)));
$b->{h}->kill_kill;
stop_redis($r);
$other->stop('immediate');
$node->stop('immediate');
done_testing();
