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
# Fixed: the uncertain page's evidence is read in every partition of the
# row's topic (kafka_backfill.c send_row()), not only in the one the row
# maps to now: a row sent before the kill is found whatever the key now.
# (A --route-column change or a rename that sends the row to another topic:
# test/t/435, which reads the topics the state recorded for the page; a
# --target-prefix change is refused, the state's topic moving with it.)
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
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-q',
			'-f', '%s\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { /"id":"?(\d+)/ ? $1 : () } split /\n/, $out;
}

my @base = ('--slot', 'bf_kc', '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'page-half';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 120;
my $a = start_bridge($node, undef, @base);
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($a) =~ /paused at "page-half"/ }, 60), 'half of the first page is in kafka');
stop_bridge($a, 'KILL');
my @before = ids();
diag(scalar(@before) . ' rows in the topic at the kill');
my $b = start_bridge($node, undef, @base, ($ENV{W2Q_ATTACK_CONTROL} ? () : ('--key-column', 'grp')));
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kc" done|ERROR/ || !$b->{h}->pumpable }, 60),
	'the restart ended its backfill or stopped');
my %seen;
$seen{$_}++ for ids();
my @dup = grep { ($seen{$_} // 0) > 1 } 1 .. 200;
my @missing = grep { !$seen{$_} } 1 .. 200;
ok(bridge_log($b) =~ /ERROR/ ? @dup == 0 : (@dup == 0 && @missing == 0), 'each row once (or a refusal)')
  or diag(scalar(@dup) . " twice, " . scalar(@missing) . " missing\n"
	  . join("\n", grep { /INFO|WARNING|ERROR|LOG/ && !/DEBUG/ } split /\n/, bridge_log($b)));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
