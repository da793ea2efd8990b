# What: any role that can log in to the slot's database (CONNECT is
# PUBLIC's by default; no other privilege) takes the backfill's advisory
# lock, whose key is documented and computable
# (pg_advisory_lock(hashtext('wal2queue-backfill:' || slot))), and holds it
# on an idle session.  Every start of the bridge's command line then waits
# 30 s and exits 1 ("another bridge is backfilling slot ..."), though the
# backfill finished long ago and there is nothing to backfill: the service
# manager restarts it forever, nothing is streamed, WAL piles up.  With
# --standby: refused with --backfill ("--backfill and --standby cannot be
# used together"), though lock_busy() names it as the way to wait.
# Why: bridge/backfill.c attempt() calls bf_lock_take() before it reads the
# sink's state ("if ((rc = bf_lock_take(bf)) != 0) return rc;"), so a
# finished backfill (existing_slot(): "finished earlier ...; streaming")
# needs the lock too; backfill_lock.c lock_busy() gives up after
# BF_LOCK_GRACE_US whatever the state.  An advisory lock is open to every
# role of the database: the lock is not a proof that a bridge holds it.
# Expected: a restart whose backfill is recorded done streams without the
# lock (read the state first, or on a busy lock read it and go on when it
# is done), and the message does not claim another bridge where it cannot
# know (name the holder's pid/role from pg_locks).  Here: the bridge
# restarted with the same command line delivers a new row.
# With W2Q_ATTACK_CONTROL=1 the role does not take the lock: passes.
# Severity: medium (denial of service of the queue by any login role;
# a service manager cannot tell it from a second bridge).
# Fixed: attempt() (backfill.c) reads the slot and the sink's state
# first; a finished backfill (slot there, not lost, no --backfill-again
# for a new label) streams without the lock.  Only an unfinished or new
# backfill takes the lock, then reads the state again under it.  A busy
# lock's messages name its holder (PID, role, application, from pg_locks
# and pg_stat_activity).  (--standby with --backfill is allowed since 397:
# the aside above is outdated.)
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bflockdos');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 20) g;
	CREATE ROLE nobody LOGIN;
});
my $slot = 'bf_dos';
my @cmd = ('--slot', $slot, '--create-slot', '--tables', 'public.jobs', '--backfill',
	'--backfill-batch=10', '--status-interval', '1');
my $a = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '20' }, 60), 'the backfill delivered 20 rows')
  or diag(bridge_log($a));
ok(wait_until(sub { backfill_done($r, $slot) eq '1' }, 30), 'the backfill is recorded done');
stop_bridge($a);

# a role with nothing but LOGIN holds the documented key on an idle session
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=nobody' ],
	'<', \$in, '>', \$out, '2>', \$err);
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$in .= "SELECT pg_advisory_lock(hashtext('wal2queue-backfill:' || '$slot'));\n";
	$h->pump until $out =~ /\n/ || $err =~ /ERROR/;
	is($err, '', 'the role took the lock');
}

my $b = start_bridge($node, $r, @cmd);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (21, 'pending')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '21' || !$b->{h}->pumpable }, 60)
	  && redis($r, 'XLEN', 'public.jobs') eq '21',
	'the restarted bridge streams the new row (its backfill was done)')
  or diag(join "\n", grep { /ERROR|INFO|WARNING/ } split /\n/, bridge_log($b));
ok($b->{h}->pumpable, 'it is still running');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
$in .= "\\q\n";
$h->finish;
stop_redis($r);
$node->stop;
done_testing();
