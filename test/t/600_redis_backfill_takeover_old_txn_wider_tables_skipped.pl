# What: a bridge streams --tables public.a of cluster A into Redis and
# delivers one transaction (the progress record of slot "s600" holds
# txn_end, txn_source "A/1").  The operator swaps the server: cluster B (a
# new initdb, another system identifier) takes the same slot name and
# Redis, with --create-slot --backfill --accept-new-source --tables
# public.a.  The backfill takes the record over (sysid, timeline, lsn: its
# consistent point) but leaves A's txn_* fields.  The bridge streams on
# under public.a while only public.b (not selected) is written: the
# record's lsn moves past those writes.  PostgreSQL restarts after a crash
# (pg_ctl -m immediate) and the slot comes back at its last checkpoint,
# below them (576's crash).  The bridge is restarted with a wider --tables
# public.a,public.b: the replay decodes public.b's three transactions below
# the record's lsn, and the deliver function skips them as delivered.
# Stream public.b never gets rows 1-3; nothing reports it.
# Why: bridge/redis_history.c progress_on_record() calls record_no_txn()
# (576's check, lsn_options) only when txn_end is empty, and returns
# SINK_OK at once when txn_source is not this source; but the deliver
# function's lasttxn() (bridge/redis_progress.c) ignores txn_* of another
# source, so for deliver() such a record has no last transaction and it
# skips every item up to lsn (unseen() needs a txn_end).  The backfill's
# takeover (bridge/redis_backfill.c, mode "accept": HSET of sysid..lsn)
# neither drops txn_* nor writes lsn_options; the deliver calls after it
# are not "dirty" (same source), so they keep the stale txn_* too.
# Expected: under options other than the ones the record's positions were
# written with, a replay from below the record's lsn stops (the
# options-changed verdict) or writes what it decodes; never skips it.
# Severity: high -- silent loss of the newly selected table's jobs
# (exactly-once), 576's hole through a record whose last transaction is
# another source's (a server swapped or a promoted standby, with backfill).
# Control (W2Q_ATTACK_CONTROL=1): no earlier run on cluster A (the backfill
# creates the record, no txn_* fields): record_no_txn() stops the wider
# start with the options-changed answer.  Passes.
# Fixed: the backfill's takeover (bridge/redis_backfill.c, the function now
# wal2queue_backfill4, which takes the options) writes lsn_options with lsn
# and drops txn_* that are not this source's, in the same call; and
# progress_on_record() (bridge/redis_history.c) counts the record's last
# transaction as the deliver function's lasttxn() does: only this source's,
# so a record whose txn_* are another source's (one an older bridge took
# over) is judged by record_no_txn().  The wider start stops with the
# options-changed answer and its way out.  The second part writes A's
# txn_* back onto the record by hand (a record taken over before the fix)
# and checks the start stops the same way (progress_on_record()'s part).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my %txn_a = (txn_end => '0/1000000', txn_xid => '700', txn_commit_time => '1',
	txn_source => '7000000000000000000/1', txn_options => '--plugin=wal2queue --tables=public.a');
my $r = start_redis();
my $pkey = 'wal2queue:progress:s600';
my @cmd = ('--slot', 's600', '--status-interval', '1');
my $ddl = 'CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)';

unless ($control)
{
	my $na = new_node('a600a');
	$na->safe_psql('postgres', $ddl);
	my $br = start_streaming_bridge($na, $r, @cmd, '--tables', 'public.a', '--create-slot');
	$na->safe_psql('postgres', 'INSERT INTO a VALUES (100)');
	ok(wait_until(sub { redis($r, 'HGET', $pkey, 'txn_end') ne '' }, 30),
		'cluster A: a transaction of public.a delivered (txn_end)');
	$txn_a{$_} = redis($r, 'HGET', $pkey, $_) for keys %txn_a;
	stop_bridge($br);
	$na->stop;
}

my $node = new_node('a600b');
$node->safe_psql('postgres', $ddl . '; INSERT INTO a VALUES (1)');
my $br = start_bridge($node, $r, @cmd, '--tables', 'public.a', '--create-slot', '--backfill',
	'--accept-new-source');
ok(wait_backfill_done($r, $br, 's600'), 'cluster B: the backfill is done');
ok(wait_until(sub { bridge_log($br) =~ /streaming slot/ }, 30), 'cluster B: streaming');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
is(redis($r, 'HGET', $pkey, 'sysid'), $sysid, 'the record is cluster B\'s now');
note(join(' ', map { "$_=" . redis($r, 'HGET', $pkey, $_) } qw(lsn txn_end txn_source lsn_options)));
is(join(',', map { redis($r, 'HGET', $pkey, $_) } sort keys %txn_a), ',,,,',
	'no last transaction of cluster A kept');
is(redis($r, 'HGET', $pkey, 'lsn_options'), '--plugin=wal2queue --tables=public.a',
	'lsn_options: the options of the takeover');

my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$lsn0' FROM pg_replication_slots WHERE slot_name = 's600'") eq 't' }, 30),
	'the slot is confirmed up to here');
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot's position on disk
$node->safe_psql('postgres', "INSERT INTO b VALUES ($_)") for 1 .. 3;
my $lsn1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub {
	my $rec = redis($r, 'HGET', $pkey, 'lsn');
	$rec ne '' && $node->safe_psql('postgres', "SELECT '$rec'::pg_lsn >= '$lsn1'") eq 't' }, 30),
	'the record\'s lsn passed the public.b writes');
note(join(' ', map { "$_=" . redis($r, 'HGET', $pkey, $_) } qw(lsn txn_end txn_source lsn_options)));
$br->{h}->signal('KILL');
$br->{h}->finish;
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 's600');
ok($node->safe_psql('postgres', "SELECT '$slot'::pg_lsn < '$lsn1'") eq 't',
	"the crash moved the slot back ($slot, below $lsn1)");

# wider: public.b too
$br = start_bridge($node, $r, @cmd, '--tables', 'public.a,public.b');
$node->safe_psql('postgres', 'INSERT INTO b VALUES (4)');
wait_until(sub { !$br->{h}->pumpable || (redis($r, 'XLEN', 'public.b') || 0) >= 4
	  || redis($r, 'XRANGE', 'public.b', '-', '+') =~ /\b4\b/ }, 30);
wait_until(sub { !$br->{h}->pumpable || (redis($r, 'XLEN', 'public.b') || 0) >= 4 }, 3);
my $runs = $br->{h}->pumpable;
my $n = redis($r, 'XLEN', 'public.b') || 0;
my $log = bridge_log($br);
note(join("\n", grep { /ERROR|WARNING|FATAL/ } split /\n/, $log));
ok(!$runs || $n == 4, "public.b holds rows 1-4 ($n) or the bridge stopped (it "
	  . ($runs ? 'runs' : 'stopped') . ')');
ok(!$runs || $log =~ /options/ || $n == 4, 'nothing skipped silently');
stop_bridge($br) if $runs;
ok(!$runs, 'the wider start stopped');
like($log, qr/the options that choose transactions changed since the record.*restart once with the recorded options until the slot has confirmed past/,
	'with the options-changed answer and its way out');
is($n, 0, 'nothing written');

# a record an older bridge took over: cluster A's txn_* still there
redis($r, 'HSET', $pkey, %txn_a);
$br = start_bridge($node, $r, @cmd, '--tables', 'public.a,public.b');
ok(wait_until(sub { !$br->{h}->pumpable || (redis($r, 'XLEN', 'public.b') || 0) > 0 }, 30),
	'the wider start with another source\'s txn_* on the record: stops or writes');
$runs = $br->{h}->pumpable;
stop_bridge($br) if $runs;
$log = bridge_log($br);
note(join("\n", grep { /ERROR|WARNING|FATAL/ } split /\n/, $log));
ok(!$runs, 'it stopped');
like($log, qr/the options that choose transactions changed since the record/,
	'another source\'s last transaction is no evidence: the options-changed answer');
is(redis($r, 'XLEN', 'public.b') || 0, 0, 'nothing of public.b skipped or written');
done_testing();
