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
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(usleep);
use lib dirname(__FILE__) . '/../faults';
use W2QResp;
use W2QTest;

my $n = 3000;
my $maxlen = $ENV{W2Q_ATTACK_CONTROL} ? 1000 : 100;
my $node = new_node('maxlen');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('ml', 'wal2queue');
});
# every call the bridge makes, to count what one call adds
my $mon = $PostgreSQL::Test::Utils::tmp_check . "/monitor_$$.txt";
my $mh = IPC::Run::start([ 'redis-cli', '-p', $r->{port}, 'MONITOR' ], '>', $mon, '2>&1');
usleep(200_000);
my $b = start_bridge($node, $r, '--slot', 'ml', '--accept-new-source',
	'--redis-maxlen', $maxlen);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (0, 'first')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'first job delivered');

# a reader that is always caught up: XREAD BLOCK from the last ID it saw
my $out = $PostgreSQL::Test::Utils::tmp_check . "/reader_$$.txt";
my $pid = fork();
if ($pid == 0)
{
	my $c = W2QResp->new('127.0.0.1', $r->{port}, timeout => 120);
	my $last = '0-0';
	my %seen;
	local $SIG{TERM} = sub {
		open(my $f, '>', $out);
		print $f join("\n", sort { $a <=> $b } keys %seen), "\n";
		close $f;
		POSIX::_exit(0);
	};
	for (;;)
	{
		my $rep = $c->command('XREAD', 'COUNT', '100000', 'BLOCK', '200', 'STREAMS', 'public.jobs', $last);
		next unless ref($rep) eq 'ARRAY';
		for my $e (@{ $rep->[0][1] })
		{
			$last = $e->[0];
			my %f = @{ $e->[1] };
			$seen{ $f{id} } = 1;
		}
	}
}
usleep(300_000);

# a burst of single-row transactions while the bridge is held, then let it
# catch up: it batches them
$b->{h}->signal('STOP');
$node->safe_psql('postgres', join('', map { "INSERT INTO jobs VALUES ($_, 'x');\n" } 1 .. $n));
$b->{h}->signal('CONT');
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub {
	$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'ml'") eq 't' }, 120),
	'the bridge confirmed every transaction');
sleep 1;
kill 'TERM', $pid;
waitpid($pid, 0);
my %seen = map { $_ => 1 } grep { length } split /\n/, slurp_file($out);
my @missing = grep { !$seen{$_} } 1 .. $n;
diag("a reader blocked in XREAD missed " . scalar(@missing) . " of $n jobs");
$mh->signal('TERM');
$mh->finish;

# the largest number of entries one deliver call added to the stream: with
# more than maxlen plus one stream node (100 entries), MAXLEN ~ trimmed
# entries of that very call before it returned, unseen by any reader
my $most = 0;
for my $line (split /\n/, slurp_file($mon))
{
	next unless $line =~ /"FCALL" "wal2queue_v1_deliver/;
	my @t = ($line =~ /"((?:[^"\\]|\\.)*)"/g);
	my ($jobs, $pos) = (0, 12);
	for (1 .. $t[11])
	{
		my $nk = $t[$pos + 5];
		my $sp = $pos + 6 + $nk;
		my $ep = $sp + 3 + $t[$sp + 2];
		$jobs += $t[$ep + 1] / 7 if $t[$pos + 3] ne '';    # single-row: 7 elements
		$pos = $ep + 2;
	}
	$most = $jobs if $jobs > $most;
}
cmp_ok($most, '<=', $maxlen + 100,
	"no call adds more entries than --redis-maxlen $maxlen keeps (the largest added $most: "
	  . ($most - $maxlen - 100) . " or more of its own entries were trimmed before any reader saw them)");
ok($b->{h}->pumpable, 'the bridge still runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
