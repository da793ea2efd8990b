# What: with --redis-maxlen N, one batched call (up to 256 transactions or
# 1 MiB) XADDs its entries with MAXLEN ~ N one by one, so entries the same
# atomic call added are trimmed away before any reader could see them.  A
# consumer that is fully caught up (blocked in XREAD on the stream, reading
# every entry the moment a call completes) still never sees them: jobs are
# confirmed to PostgreSQL and lost to every consumer, with no word.
# Why: bridge/redis_progress.c xadds(): call('XADD', key, 'MAXLEN', '~',
# maxlen, '*', ...) per entry inside one FCALL; a call of the batch
# (sink_redis.c redis_commit: REDIS_BATCH_TXNS 256, REDIS_BATCH_BYTES) adds
# more entries than N.  README/docs say "trim only what every group has
# read", which no consumer can honour when the trim happens inside the call
# that added the entries (before batching, a transaction per MULTI, a
# caught-up consumer kept up with small transactions).
# Expected: a consumer blocked on the stream sees every job (the function
# trims only entries older than the call's first one, e.g. XTRIM MINID / a
# MAXLEN no smaller than the call's own entries, or the bridge refuses a
# maxlen below what one call may add), or the bridge says so.
# The test records every call (MONITOR) and fails when one call added more
# entries to the stream than MAXLEN ~ N keeps (N + one stream node of 100):
# those were trimmed inside the call.  It also reports (diag) how many jobs a
# reader blocked in XREAD missed (here ~1,600 of 3,000 with N = 100).
# Severity: medium (silent loss to consumers under an option the README
# offers; the bridge's own delivery accounting is right).
# Control: W2Q_ATTACK_CONTROL=1 uses --redis-maxlen 1000, more than one call
# of 256 single-row transactions adds: the same reader then misses nothing.
# Fixed: bridge/redis_progress.c (wal2queue_v1_deliver6) adds entries
# without MAXLEN and trims each stream the call added to once, at the end
# of the call, with MAXLEN ~ max(N, the entries the call added): a call
# never trims what it added itself (docs/redis.md, --redis-maxlen).
# Fixed: the check is now deterministic: Redis with stream-node-max-entries
# 1 (MAXLEN ~ is then exact), --redis-maxlen 5, one transaction of 50 rows
# (one deliver call): all 50 are in the stream when it is confirmed (the
# old function left about 5), and a later small transaction trims the
# stream to about 5 again.  The blocked reader of the original is left out:
# a reader that falls more than max(N, a call) entries behind misses
# entries under any MAXLEN, which docs/redis.md now says.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $maxlen = $ENV{W2Q_ATTACK_CONTROL} ? 1000 : 5;
my $node = new_node('maxlen');
my $r = start_redis();
redis($r, 'CONFIG', 'SET', 'stream-node-max-entries', '1');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('ml', 'wal2queue');
});
my $b = start_bridge($node, $r, '--slot', 'ml', '--accept-new-source', '--status-interval', '1',
	'--redis-maxlen', $maxlen);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (0, 'first')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'first job delivered')
  or diag(bridge_log($b));

sub confirmed_now
{
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	return wait_until(sub {
		$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ml'") eq 't' }, 30);
}

# one transaction of 50 rows: one deliver call adding 50 entries
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'x' FROM generate_series(1, 50) g});
ok(confirmed_now(), 'the transaction of 50 jobs is confirmed');
my %ids = map { $_->[1]{id} => 1 } @{ stream_entries($r, 'public.jobs') };
my @missing = grep { !$ids{$_} } 1 .. 50;
is(scalar(@missing), 0, "every job of the call is in the stream when it is confirmed (--redis-maxlen $maxlen; "
	  . scalar(@missing) . " of 50 trimmed by the call that added them)");

# a small transaction later trims the stream again
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'y' FROM generate_series(51, 53) g});
ok(confirmed_now(), 'the small transaction is confirmed');
my $len = redis($r, 'XLEN', 'public.jobs');
cmp_ok($len, '<=', $ENV{W2Q_ATTACK_CONTROL} ? 54 : $maxlen + 1, "the stream is trimmed to about --redis-maxlen again ($len entries)");
%ids = map { $_->[1]{id} => 1 } @{ stream_entries($r, 'public.jobs') };
ok($ids{51} && $ids{52} && $ids{53}, 'the small transaction is in the stream');
ok($b->{h}->pumpable, 'the bridge still runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
