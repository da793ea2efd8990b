# What: --dbname reaches PostgreSQL through a fixed address (a TCP proxy,
# a pooler in session mode, a Kubernetes Service, a virtual IP) and the
# server behind it is swapped for a copy of itself (a cold copy restored
# on a new machine: the same system identifier and timeline, so the bridge
# accepts it as the same source) while the old one still runs.  The
# proxy sends new connections to the new server; established ones stay.
# The operator ends the bridge's walsender on the old server; the stream
# reconnects through the proxy to the new one and streams.  The slot
# watch's connection is still the one to the OLD server, and it stays
# there: the new server's slot is never attested (the watch asks the old
# server to attest the new walsender's PID: refused, at DEBUG), and with
# pgoutput the publication is proved on the old server -- a table dropped
# from the new server's publication and added again (its rows in between
# never sent) is not seen, and the bridge goes on streaming (what it
# confirms capped by what polls of the OLD server proved).
# Why: bridge/slotwatch.c slotwatch_server(): the watch is re-pinned, and
# its connection closed, only when the pinned connection string differs;
# behind a fixed address the host, address and port are the same whatever
# server answers, so the connection of the previous session is kept.
# pubwatch.c keeps the first session's rows and compares each poll with
# them, so a poll of the old server proves them.
# Expected: a new stream session's watch asks the server of that session
# (a new connection at each session, or one checked to be on the same
# server: system identifier, postmaster start, as stream_own.c does):
# the new server's slot is attested, and its publication change stops the
# bridge (nothing confirmed past it).
# Severity: medium -- needs the old server alive behind the same address
# while the stream moves (a swap or restore behind a proxy or Service that
# does not cut established connections); then the pgoutput guarantee
# "a publication change stops the bridge" is lost silently (a table's
# rows while it was out of the publication are skipped without a stop), the
# health (wal_status) is the old server's, prune() gets no attestation, and
# (by reading) a REVOKE of pg_logical_emit_message or send()'s keys on the
# new server are not seen.
# Reliable (deterministic: the bridge's log shows the watch asking the old
# server to attest the new server's walsender PID, refused, at each
# interval).
#
# Control (W2Q_ATTACK_CONTROL=1): the operator also ends the watch's
# connection on the old server: it reconnects through the proxy to the
# new server, the slot is attested there and the publication change stops
# the bridge.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use W2QProxy;

my $control = $ENV{W2Q_ATTACK_CONTROL};

# the proxy connects each new client to $dir/.s.PGSQL.5999, a symlink to
# the socket of whichever server is behind it now
package SwapTarget;
sub host { return $_[0]{dir} }
sub port { return 5999 }
package main;
my $dir = PostgreSQL::Test::Utils::tempdir_short();
my $link = "$dir/.s.PGSQL.5999";
sub point_at { my ($n) = @_; unlink $link; symlink($n->host . '/.s.PGSQL.' . $n->port, $link) or die "symlink: $!" }

my $old = new_node('old701');
my $r = start_redis();
$old->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sa (id int PRIMARY KEY);
});
point_at($old);
my ($pport, undef, $ppid) = start_blackhole_proxy(bless({ dir => $dir }, 'SwapTarget'), close_on_cut => 0);
my $b = start_bridge($old, $r, '-d', "host=127.0.0.1 port=$pport dbname=postgres",
	'--plugin', 'pgoutput', '--publication', 'w2q', '--tables', 'public.sa',
	'--slot', 'sa', '--create-slot', '--status-interval', '1');
# a new row on $node until one more is in Redis
sub insert_seen
{
	my ($node, $what) = @_;
	my $before = redis($r, 'XLEN', 'public.sa') || 0;
	ok(wait_until(sub {
		$node->safe_psql('postgres', 'INSERT INTO sa SELECT coalesce(max(id), 0) + 1 FROM sa WHERE id < 1000');
		(redis($r, 'XLEN', 'public.sa') || 0) > $before }, 60), $what)
	  or diag(join("\n", grep { !/DEBUG: confirmed/ } split /\n/, bridge_log($b)));
}
insert_seen($old, 'old: streaming through the proxy');
ok(wait_until(sub { $old->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 30),
	'old: the slot was attested');

# a cold copy of the old server (slot, registry and publication included)
my $new = PostgreSQL::Test::Cluster->new('new701');
$old->stop('fast');
system('cp', '-a', $old->data_dir, $new->data_dir) == 0 or die 'copy failed';
$old->start;
$new->append_conf('postgresql.conf', sprintf("port = %d\nunix_socket_directories = '%s'\n",
	$new->port, $new->host));
$new->start;
# past the old server's WAL (and the sink's record): the sink refuses a
# server behind its record, as a roll-back (a copy older than what was
# delivered); the swap here is of a server that moved on
$new->safe_psql('postgres', 'CREATE TABLE pad (); SELECT pg_switch_wal()');
# (nothing more is delivered from the old server: the sink's record names
# its last transaction, which the copy must hold to be taken for the same
# source)
ok(wait_until(sub { $old->safe_psql('postgres', q{SELECT active_pid IS NOT NULL
	FROM pg_replication_slots WHERE slot_name = 'sa'}) eq 't' }, 60),
	'old: streaming again after its restart');

# the swap: new connections go to the new server; the old one still runs
point_at($new);
my $swapped_at = $new->safe_psql('postgres', 'SELECT now()');
is($old->safe_psql('postgres', q{SELECT count(pg_terminate_backend(active_pid))
	FROM pg_replication_slots WHERE slot_name = 'sa' AND active_pid IS NOT NULL}), '1',
	"old: the bridge's walsender is ended");
if ($control)
{
	# (PGAPPNAME, which the test framework sets, names this session)
	$old->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()});
}
insert_seen($new, 'new: the stream reconnected through the proxy to the new server');
ok(wait_until(sub {
	$new->safe_psql('postgres', 'INSERT INTO sa SELECT max(id) + 1 FROM sa WHERE id < 1000');
	$new->safe_psql('postgres', "SELECT coalesce(attested_at > '$swapped_at', false)
		FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 20),
	"new: the slot the stream reads is attested (on the stream's server)")
  or diag(join("\n", grep { /slot watch|attest|streaming|source/ } split /\n/, bridge_log($b)));

# a table out of the new server's publication for a while: its row is not
# sent; the bridge must see the change and stop (confirming nothing past it)
$new->safe_psql('postgres', q{
	ALTER PUBLICATION w2q DROP TABLE sa;
	INSERT INTO sa VALUES (1000);
	ALTER PUBLICATION w2q ADD TABLE sa;
	INSERT INTO sa VALUES (1001);
});
ok(wait_until(sub { bridge_log($b) =~ /publication "w2q" changed while streaming/ }, 20),
	"new: the publication's change on the stream's server is seen")
  or diag(join("\n", grep { /publication|slot watch|streaming/ } split /\n/, bridge_log($b)));

$b->{h}->kill_kill;
stop_blackhole_proxy($ppid);
stop_redis($r);
$new->stop('immediate');
$old->stop('immediate');
done_testing();
