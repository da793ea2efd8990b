# What: one transaction locks the newest key's row and ends without
# changing it (an operator's BEGIN; SELECT wal2queue.revoke_message_key(2);
# ... ROLLBACK -- the wrong key, or a script that fails after it) while
# 32 clients call send().  The send()s that ran meanwhile waited for it and
# then took the row FOR SHARE together: its xmax is now a MultiXactId.
# From then on every send() "cannot judge" the xmax (a value within
# relminmxid and the next MultiXactId) and takes FOR SHARE itself, and
# every two that overlap make a new MultiXact whose xmax the next ones see
# again: the churn never stops while send()s overlap -- not after the
# revoker is long gone, not in a later load with no revoke at all.  Here
# thousands of MultiXacts a second (pg_stat_slru MultiXactMember/Offset
# grow), a WAL record and a dirtied page per send(), throughput down by a
# third, until a send() happens to run alone (with fsync = off, as the test
# clusters have, that is soon; see below).  Autovacuum never visits the
# table (it hardly changes).
# wal2queue exists to avoid MultiXact churn (10_send.sql: "FOR SHARE on
# every send() would make MultiXacts of concurrent ones").
# Why: sql/src/10_send.sql send(): the "may be a MultiXactId" test reads the
# raw xmax (m.xmax) of the key row, which stays the MultiXactId after all
# its members ended (a hint bit marks it invalid; the value stays),
# and each FOR SHARE it then takes writes a new locker xmax that the
# overlapping send()s again cannot judge.
# Expected: once the locking transaction has ended, send()s take no row
# lock: a 4 s load of 32 clients creates (almost) no MultiXact.
# Severity: medium (a permanent MultiXact and WAL churn on every send() of
# a busy database after one aborted revoke: SLRU pressure, multixact
# wraparound vacuums sooner, lower throughput; no loss).
# fsync = on (as in production): with the test clusters' fsync = off a
# send() commits so fast that one soon runs alone and writes a plain xid
# (the churn then stops after a few MultiXacts).
# Fixed: sql/src/10_send.sql send() asks the row (FOR SHARE) only when
# send_key_busy() says its xmax may matter: an xid the snapshot does not
# see, or a MultiXact (pg_get_multixact_members()) with an updating or
# FOR UPDATE member the snapshot does not see; share lockers never matter.
# And it asks in a subtransaction that it rolls back: it waits for a
# running revocation and gets the verdict, but leaves no lock behind for
# the next send()s to wait for or join.  The churn ends with the revoke;
# the same holds for REPEATABLE READ send()s (a third load below).
# Control: W2Q_ATTACK_CONTROL=1 leaves out the revoke and its ROLLBACK: no
# MultiXact is made.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('mxchurn', conf => "max_connections = 80\nfsync = on\n");
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue; SELECT wal2queue.rotate_message_key()});
my $script = $PostgreSQL::Test::Utils::tmp_check . '/send530.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT wal2queue.send('q', 'x');\n");
my $pgbench = $node->config_data('--bindir') . '/pgbench';

sub load
{
	my ($secs) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $pgbench, '-n', '-h', $node->host, '-p', $node->port,
		'-U', scalar(getpwuid($<)), '-c', '32', '-j', '2', '-T', $secs, '-f', $script, 'postgres' ],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish
{
	my ($l) = @_;
	$l->{h}->finish;
	my ($tps) = ${ $l->{out} } =~ /tps = ([\d.]+)/;
	return $tps // 0;
}

sub multis { return $node->safe_psql('postgres', q{SELECT mxid_age('1'::xid)}) }

my $tps0 = finish(load(3));
my $m0 = multis();
is($m0, 0, 'a load of send()s alone makes no MultiXact');

my $l = load(8);
sleep 1;
unless ($control)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN');
	$s->query_safe('SELECT wal2queue.revoke_message_key(2)');
	sleep 1;
	$s->query_safe('ROLLBACK');
	$s->quit;
}
sleep 2;
my $m1 = multis();
sleep 4;
my $m2 = multis();
my $tps1 = finish($l);
my $raw = $node->safe_psql('postgres', q{SELECT xmax FROM wal2queue.message_key WHERE id = 2});
note("m0 $m0 m1 $m1 m2 $m2 tps $tps0 $tps1 raw $raw err " . ${ $l->{err} });
cmp_ok($m2 - $m1, '<', 50, 'after the revoke ended: no MultiXacts made by send() (4 s of load)')
  or diag("MultiXacts: $m1 -> $m2; key 2's xmax $raw; tps $tps0 before, $tps1 with the revoke");

my $l2 = load(4);
sleep 1;
my $m3 = multis();
sleep 2;
my $m4 = multis();
my $tps2 = finish($l2);
cmp_ok($m4 - $m3, '<', 50, 'a later load with no revoke at all: no MultiXact')
  or diag("MultiXacts: $m3 -> $m4; tps $tps0 before, $tps2 now; "
	  . $node->safe_psql('postgres', q{SELECT string_agg(name || ' z' || blks_zeroed || ' w' || blks_written, ', ')
		FROM pg_stat_slru WHERE name LIKE 'MultiXact%'}));

# REPEATABLE READ send()s: the same revoke and ROLLBACK under their load
my $rrscript = $PostgreSQL::Test::Utils::tmp_check . '/send530rr.sql';
PostgreSQL::Test::Utils::append_to_file($rrscript,
	"BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT wal2queue.send('q', 'x');\nCOMMIT;\n");
$script = $rrscript;
my $l3 = load(8);
sleep 1;
unless ($control)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN');
	$s->query_safe('SELECT wal2queue.revoke_message_key(2)');
	sleep 1;
	$s->query_safe('ROLLBACK');
	$s->quit;
}
sleep 2;
my $m5 = multis();
sleep 4;
my $m6 = multis();
my $tps3 = finish($l3);
cmp_ok($m6 - $m5, '<', 50, 'REPEATABLE READ send()s: after the revoke ended, no MultiXacts (4 s of load)')
  or diag("MultiXacts: $m5 -> $m6; tps $tps3; err " . ${ $l3->{err} });
unlike(${ $l3->{err} }, qr/ERROR/, 'and none of them failed (the revoke rolled back)');
$node->stop;

done_testing();
