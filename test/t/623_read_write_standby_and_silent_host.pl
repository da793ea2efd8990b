# What: the restarted connection attempt (572/574's fix) with
# target_session_attrs=read-write and a standby in the host list: (a) a
# silent host, the standby, the primary; (b) the standby, a silent host,
# the primary; (c) (b) as a postgresql:// URI.  libpq passes over the
# standby itself (read-only); the silent host is given up at
# connect_timeout=2 and the attempt restarts at what is after it.
# Why: bridge/pgerror.c current_entry() (which entry was given up, after
# libpq moved past a standby inside the same attempt) and conninfo_at()
# (target_session_attrs kept in the restarted attempt's dbname string).
# Expected: each streams from the primary, as psql connects there.
# Held on main at b2515e5 (the review 620-629): a check, not a
# reproduction; a failure would be medium (a failover list that never
# connects).  W2Q_ATTACK_CONTROL=1: the silent host is a refused port.
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('rw623');
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\nmax_wal_senders = 10");
$node->restart;
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY)');
$node->stop;
$node->backup_fs_cold('cold');
$node->start;
my $standby = PostgreSQL::Test::Cluster->new('standby623');
$standby->init_from_backup($node, 'cold', has_streaming => 1);
$standby->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'");
$standby->start;
my $r = start_redis();
my $silent = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
  or die "listen: $!";
my $sp = $silent->sockport;
if ($control)
{
	close $silent;				# refused
}
my ($pp, $bp) = ($node->port, $standby->port);
my @cases = (
	[ 'silent, standby, primary',
	  "host=127.0.0.1,127.0.0.1,127.0.0.1 port=$sp,$bp,$pp dbname=postgres target_session_attrs=read-write connect_timeout=2" ],
	[ 'standby, silent, primary',
	  "host=127.0.0.1,127.0.0.1,127.0.0.1 port=$bp,$sp,$pp dbname=postgres target_session_attrs=read-write connect_timeout=2" ],
	[ 'standby, silent, primary as a URI',
	  "postgresql://127.0.0.1:$bp,127.0.0.1:$sp,127.0.0.1:$pp/postgres?target_session_attrs=read-write&connect_timeout=2" ]);
my $n = 0;
for my $c (@cases)
{
	my ($name, $conn) = @$c;
	$n++;
	my $slot = "rj$n";
	my $b = start_bridge($node, $r, '-d', $conn, '--slot', $slot, '--create-slot', '--tables', 'public.rj',
		'--target-prefix', "$slot:");
	$node->safe_psql('postgres', "INSERT INTO rj VALUES ($n)") if wait_until(sub {
		$node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active") eq '1' }, 40);
	my $ok = wait_until(sub { (redis($r, 'XLEN', "$slot:public.rj") || 0) >= 1 }, 30);
	my ($gone) = sigterm_bridge($b);
	$b->{h}->kill_kill unless $gone;
	my $log = bridge_log($b);
	ok($ok, "$name: streams from the primary")
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, $log));
	note(join("\n", grep { /trying the next/ } split /\n/, $log));
}
stop_redis($r);
$standby->stop('immediate');
$node->stop('immediate');
done_testing();
