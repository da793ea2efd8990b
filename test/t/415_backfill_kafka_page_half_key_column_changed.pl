# What: a Kafka backfill killed with half of a page acknowledged (test hook
# page-half) and restarted with another --key-column (the operator fixes
# the job key before the restart).  The next run reads the uncertain page's
# evidence only in the partition each row maps to NOW (murmur2 of the new
# key), where the acknowledged half is not: it sends those rows again, to
# other partitions.  The topic holds them twice, and nothing refuses the
# changed shape (the stream's position record would: 256).
# Why: bridge/kafka_backfill.c send_row(): "partition =
# kafka_out_partition(&o, ...); evidence_get(ks, o.topic->name, partition,
# page, &ev)" -- the evidence is looked up where the row would go under this
# run's key; the backfill state (kafka_backfill_state.c) records no key or
# route column, so backfill.c resume_unfinished() cannot see the change.
# Expected: the restart is refused while a page is uncertain and the key
# column (or route column, target prefix) differs from the one the page
# was written with, or the evidence is read in every partition; each row
# once.  Here: 200 rows, pages of 40, a topic of 4 partitions (the mock's
# default); the first run keys by id (the primary key), the second by grp.
# Observed: 20 rows acknowledged at the kill, 9 found again, 11 twice.
# W2Q_ATTACK_CONTROL=1 restarts with the same key: each row once.
# Severity: medium (duplicates under a guarantee of exactly once, after a
# kill and a command-line change; also for --route-column changes).
#
# Fixed: the Kafka backfill state records the shape its pages are written
# with (field shape: plugin, key column, route column, target prefix, as
# the stream's position record, 256; bridge/kafka_backfill_state.c), and
# kafka_backfill.c check_shape() refuses to resume an unfinished backfill
# without transactions under another shape: exit 1 naming both shapes and
# the ways out (the old options until the backfill is done, or
# --accept-new-source for the duplicates).  The same command line with the
# old options then finishes it, each row once; a finished backfill is not
# refused.  Below also for --route-column, after a second kill at
# page-half.  (Redis writes each page and its state in one atomic call:
# no page is uncertain there, a shape change duplicates nothing.)  With
# --accept-new-source the resume goes on (a WARNING; duplicates); with
# --kafka-transactions no page is partly in kafka and the new shape goes on
# (logged), each row once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfkeychange');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, grp int NOT NULL, status text NOT NULL);
	INSERT INTO jobs SELECT g, g % 7, 'pending' FROM generate_series(1, 200) g;
});

sub ids
{
	my ($topic, @x) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic // 'public.jobs', '-o', 'beginning', '-e', '-q',
			@x, '-f', '%s\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { /"id":"?(\d+)/ ? $1 : () } split /\n/, $out;
}

my @base = ('--slot', 'bf_kc', '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');

# a run of @args killed with half of a page acknowledged
sub kill_at_page_half
{
	my (@args) = @_;
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'page-half';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 120;
	my $a = start_bridge($node, undef, @args);
	ok(wait_until(sub { bridge_log($a) =~ /paused at "page-half"/ }, 60), 'half of a page is in kafka')
	  or diag(bridge_log($a));
	stop_bridge($a, 'KILL');
}

# a restart under another shape: exit 1 naming both, nothing sent
sub refused
{
	my ($what, $now, @extra) = @_;
	my $before = scalar(ids());
	my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), @base, @extra);
	is($rc, 1, "a restart with $what is refused");
	like($out, qr/the unfinished backfill of slot "bf_kc" \(kafka topic "wal2queue-backfill\.bf_kc"\) wrote its pages with "plugin=wal2queue key-column= route-column= target-prefix=", but this bridge runs with "\Q$now\E": .*restart with the old options until the backfill is done, or accept the duplicates with --accept-new-source/,
		'the refusal names both shapes and the ways out') or diag($out);
	is(scalar(ids()), $before, 'it sent nothing');
}

kill_at_page_half(@base);
diag(scalar(ids()) . ' rows in the topic at the kill');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	my $b = start_bridge($node, undef, @base);
	ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kc" done/ }, 60), 'the same options finish');
	stop_bridge($b);
}
else
{
	refused('another --key-column', 'plugin=wal2queue key-column=grp route-column= target-prefix=',
		'--key-column', 'grp');
	# the old options: page-half again, then another --route-column
	kill_at_page_half(@base);
	refused('another --route-column', 'plugin=wal2queue key-column= route-column=status target-prefix=',
		'--route-column', 'status');
	is(scalar(ids('pending')), 0, 'nothing in the other route\'s topic');
	my $b = start_bridge($node, undef, @base);
	ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kc" done|ERROR/ || !$b->{h}->pumpable }, 60)
		  && bridge_log($b) =~ /backfill of slot "bf_kc" done/, 'the old options finish the backfill')
	  or diag(bridge_log($b));
	stop_bridge($b, 'KILL') if $b->{h}->pumpable;
}
my %seen;
$seen{$_}++ for ids();
my @dup = grep { ($seen{$_} // 0) > 1 } 1 .. 200;
my @missing = grep { !$seen{$_} } 1 .. 200;
ok(@dup == 0 && @missing == 0, 'each row once')
  or diag(scalar(@dup) . " twice, " . scalar(@missing) . " missing");

# a finished backfill: another key column is the stream's business (256)
my $c = start_bridge($node, undef, @base, '--key-column', 'grp');
ok(wait_until(sub { bridge_log($c) =~ /streaming slot "bf_kc"/ || !$c->{h}->pumpable }, 60)
	  && bridge_log($c) !~ /wrote its pages with/, 'a finished backfill is not refused')
  or diag(bridge_log($c));
stop_bridge($c, 'KILL') if $c->{h}->pumpable;

unless ($ENV{W2Q_ATTACK_CONTROL})
{
	# --accept-new-source: the other key column goes on, the duplicates accepted
	my @acc = ('--slot', 'bf_acc', '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
		'--backfill', '--backfill-batch=40', '--target-prefix', 'acc.');
	kill_at_page_half(@acc);
	my $d = start_bridge($node, undef, @acc, '--key-column', 'grp', '--accept-new-source');
	ok(wait_until(sub { bridge_log($d) =~ /backfill of slot "bf_acc" done|ERROR/ || !$d->{h}->pumpable }, 60)
		  && bridge_log($d) =~ /backfill of slot "bf_acc" done/, '--accept-new-source finishes it')
	  or diag(bridge_log($d));
	like(bridge_log($d), qr/WARNING: the unfinished backfill of slot "bf_acc" .* wrote its pages with "plugin=wal2queue key-column= route-column= target-prefix=acc\.", now "plugin=wal2queue key-column=grp route-column= target-prefix=acc\.": rows of the page a stop may have cut can be written twice \(--accept-new-source\)/,
		'with a warning');
	stop_bridge($d, 'KILL') if $d->{h}->pumpable;
	my %acc;
	$acc{$_}++ for ids('acc.public.jobs');
	is(scalar(grep { !$acc{$_} } 1 .. 200), 0, 'every row at least once');

	# --kafka-transactions: no page is partly in kafka, the new shape goes on
	my @tx = ('--slot', 'bf_tx', '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
		'--backfill', '--backfill-batch=40', '--target-prefix', 'tx.', '--kafka-transactions');
	{
		local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'first-page';
		local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 120;
		my $e = start_bridge($node, undef, @tx);
		ok(wait_until(sub { bridge_log($e) =~ /paused at "first-page"/ }, 60), 'transactions: a page committed')
		  or diag(bridge_log($e));
		stop_bridge($e, 'KILL');
	}
	my $f = start_bridge($node, undef, @tx, '--key-column', 'grp');
	ok(wait_until(sub { bridge_log($f) =~ /backfill of slot "bf_tx" done|ERROR/ || !$f->{h}->pumpable }, 60)
		  && bridge_log($f) =~ /backfill of slot "bf_tx" done/, 'transactions: another key column goes on')
	  or diag(bridge_log($f));
	like(bridge_log($f), qr/the backfill of slot "bf_tx" goes on with "plugin=wal2queue key-column=grp route-column= target-prefix=tx\.", its pages until now were written with "plugin=wal2queue key-column= route-column= target-prefix=tx\."/,
		'logged');
	stop_bridge($f, 'KILL') if $f->{h}->pumpable;
	my %tx;
	$tx{$_}++ for ids('tx.public.jobs', '-X', 'isolation.level=read_committed');
	is(join(',', grep { ($tx{$_} // 0) != 1 } 1 .. 200), '', 'transactions: each row once');
}
stop_kafka_mock($k);
$node->stop;
done_testing();
