# What: a Kafka backfill without transactions is killed half-way through a
# page (the page's first rows are in the topic, its state is not); the
# table is renamed before the restart (the same command line, --tables
# public.*: the table stays selected).  The resume finds the table by its
# oid (405's fix) and goes on with the uncertain page, looking for each row
# in the evidence of the topic it maps to NOW -- the new name's topic, empty
# -- so the rows already sent under the old name are sent again: each of
# them twice (once in public.jobs, once in public.jobs_renamed).
# Why: bridge/kafka_backfill.c send_row(): 'for (int32_t p = 0; check && p <
# o.topic->npartitions; p++) evidence_get(ks, o.topic->name, p, page, &ev)'
# reads the evidence of the row's current topic only (415's fix widened it
# to every partition, not to the topic the page was sent to); the state
# records the shape (key column, route column, target prefix) but not the
# topic the uncertain page went to.
# Expected: each of the 200 rows once across both topics, or a refusal
# naming the rename (as for another shape without transactions).
# W2Q_ATTACK_CONTROL=1 does not rename the table: passes.
# Severity: low-medium (a rename between a kill and its restart; duplicates
# of one page, where the docs claim a killed Kafka backfill resumes each row
# once).
# Fixed: every Kafka backfill state names the topics of its page
# (next_topics); without transactions a page with a row for a topic the last
# record does not name first writes a start record (the same state, naming
# the page's topics), acknowledged before any row is sent.  The resume reads
# the uncertain page's evidence in the recorded topics and in the row's
# topic now: the 20 rows sent under the old name are skipped, the other 20
# of the page go to the new name's topic (kafka_backfill.c send_row(),
# start_page(); kafka_backfill_topics.c).  No refusal: the test now asks for
# the backfill done, each row once, and the 20 found in public.jobs.  A
# second part restarts with a --route-column added instead (the same
# mechanism: the rows sent to public.jobs2 are found there).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfkrename');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, grp int NOT NULL, status text NOT NULL);
	INSERT INTO jobs SELECT g, g % 7, 'pending' FROM generate_series(1, 200) g;
});

sub ids
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', '%s\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { /"id":"?(\d+)/ ? $1 : () } split /\n/, $out;
}

my @base = ('--slot', 'bf_kr', '--create-slot', '--tables', 'public.*', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'page-half';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 120;
my $a = start_bridge($node, undef, @base);
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($a) =~ /paused at "page-half"/ }, 60), 'half of the first page is in kafka');
stop_bridge($a, 'KILL');
my @before = ids('public.jobs');
diag(scalar(@before) . ' rows in the topic at the kill');
$node->safe_psql('postgres', 'ALTER TABLE jobs RENAME TO jobs_renamed') unless $ENV{W2Q_ATTACK_CONTROL};
my $b = start_bridge($node, undef, @base);
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kr" done|ERROR/ || !$b->{h}->pumpable }, 60),
	'the restart ended its backfill or stopped');
my %seen;
$seen{$_}++ for ids('public.jobs'), ($ENV{W2Q_ATTACK_CONTROL} ? () : ids('public.jobs_renamed'));
my @dup = grep { ($seen{$_} // 0) > 1 } 1 .. 200;
my @missing = grep { !$seen{$_} } 1 .. 200;
ok(bridge_log($b) !~ /ERROR/ && @dup == 0 && @missing == 0, 'each row once across both topics')
  or diag(scalar(@dup) . " twice (@dup[0 .. ($#dup < 9 ? $#dup : 9)]), " . scalar(@missing) . " missing\n"
	  . join("\n", grep { /INFO|WARNING|ERROR|LOG/ && !/DEBUG/ } split /\n/, bridge_log($b)));
like(bridge_log($b), qr/backfill page \d+: kafka topic "public\.jobs" partition \d+ already holds/,
	'the uncertain page\'s rows are found in the topic it was sent to (the old name)')
  unless $ENV{W2Q_ATTACK_CONTROL};
like(bridge_log($b), qr/backfill of slot "bf_kr" done: 200 rows/, 'the backfill is done');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;

# The same with a --route-column added before the restart (the rows of the
# uncertain page map to the route topics now, q0..q2): those sent to
# public.jobs2 before the kill are found there, the others go to their
# route topic.  Before that, a restart with a --target-prefix added is
# refused: the prefix moves the state topic itself, where no backfill of
# the existing slot is (docs/kafka.md), and it sends nothing.
$node->safe_psql('postgres', q{
	CREATE TABLE jobs2 (id bigint PRIMARY KEY, queue text NOT NULL);
	INSERT INTO jobs2 SELECT g, 'q' || (g % 3) FROM generate_series(1, 200) g;
});
my @base2 = ('--slot', 'bf_kr2', '--create-slot', '--tables', 'public.jobs2', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=40');
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'page-half';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 120;
$a = start_bridge($node, undef, @base2);
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($a) =~ /paused at "page-half"/ }, 60), 'route: half of the first page is in kafka');
stop_bridge($a, 'KILL');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my $p = start_bridge($node, undef, @base2, '--target-prefix', 'x.');
	ok(wait_until(sub { !$p->{h}->pumpable }, 60), 'prefix: the restart stops');
	like(bridge_log($p), qr/ERROR: replication slot "bf_kr2" exists and kafka holds no backfill of it/,
		'prefix: refused, naming the slot without a backfill');
	is(scalar(ids('x.public.jobs2')), 0, 'prefix: nothing sent');
	stop_bridge($p, 'KILL') if $p->{h}->pumpable;
}
$b = start_bridge($node, undef, @base2, ($ENV{W2Q_ATTACK_CONTROL} ? () : ('--route-column', 'queue')));
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kr2" done|ERROR/ || !$b->{h}->pumpable }, 60),
	'route: the restart ended its backfill or stopped');
%seen = ();
$seen{$_}++ for ids('public.jobs2'), ($ENV{W2Q_ATTACK_CONTROL} ? () : (ids('q0'), ids('q1'), ids('q2')));
@dup = grep { ($seen{$_} // 0) > 1 } 1 .. 200;
@missing = grep { !$seen{$_} } 1 .. 200;
ok(bridge_log($b) !~ /ERROR/ && @dup == 0 && @missing == 0, 'route: each row once across the topics')
  or diag(scalar(@dup) . " twice (@dup[0 .. ($#dup < 9 ? $#dup : 9)]), " . scalar(@missing) . " missing\n"
	  . join("\n", grep { /INFO|WARNING|ERROR|LOG/ && !/DEBUG/ } split /\n/, bridge_log($b)));
like(bridge_log($b), qr/backfill page \d+: kafka topic "public\.jobs2" partition \d+ already holds/,
	'route: the uncertain page\'s rows are found in the topic it was sent to')
  unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
