# What: a Kafka backfill (no transactions) with --route-column over a
# column of many distinct values (one topic per tenant, per customer, ...).
# Every state record now names the topics of its page (next_topics, 435's
# fix), and a start record names the page's topics and the recorded ones:
# one name per distinct route of the page, unbounded by anything.  A page
# whose topic names add up to more than message.max.bytes makes a start
# record Kafka cannot take: the bridge stops with "job too large for Kafka:
# message to topic km.wal2queue-backfill.bf_km key bf_km ... is 114847
# bytes" -- the state record, no job of the user's -- without a word about
# the page's topics or --backfill-batch, and every restart stops there
# (the stream never starts; a slot kept holds WAL).  Nothing is sent first
# (the start record precedes the rows), so no loss.  Here message.max.bytes
# is 100000 (-X) and a page of 600 rows routes to 600 topics of ~190 bytes
# (~115 kB of names); at the defaults (1 MB, pages of 10000 rows) ~5000
# distinct routes of ~200 bytes in a page do it.
# Why: bridge/kafka_backfill.c send_state(): 'char *json =
# kafka_bf_topics_format(topics); ... kafka_backfill_state_format(...,
# json)' puts every topic name of the page into the one state message;
# neither kafka_bf_topics_of_page() nor the page's bounds (--backfill-batch,
# --backfill-page-bytes: the rows' bytes) limit it.
# Expected: the backfill completes, the 600 rows once each (a page cut
# where its topics' names would not fit a state record); at least a
# refusal that names the cause (the page routes to too many topics for
# one state record) and the remedy (a smaller --backfill-batch).
# (test/attack's W2Q_ATTACK_CONTROL=1 routed every row to 3 topics: passed.)
# Severity: low-medium (a backfill that cannot finish with the defaults
# under an ordinary routing choice, with a misleading error; no data lost).
# Fixed: a Kafka backfill page ends where its topics would not fit one
# state record: kafka_backfill.c page_end() cuts the sink call (the rows of
# a --backfill-batch page) into Kafka pages whose next_topics (with, on the
# uncertain page after a restart, the recorded topics a start record names
# too) fit message.max.bytes less the record's other bytes
# (kafka_backfill_topics.c kafka_bf_topics_cut()); each page's state ends at
# its last row (key, rows), the next page starts at the row left out.  A row
# whose topic alone cannot fit is refused (rows_fit()) naming the table,
# the row's key, the topic and message.max.bytes.  The test asks for the backfill done
# (600 rows), every state record within message.max.bytes, more page
# records than --backfill-batch pages (also with --kafka-transactions: a
# transaction per cut page); a second part (8000-byte records,
# 60 topics) kills the bridge half-way through the first cut page and
# restarts it: each of the 120 rows once, in its topic.  A third part
# refuses a topic name longer than a state record can hold, before any row
# of the call is sent (the rows' topics are checked first: a refusal after
# a first cut page would leave its rows behind a slot dropped as unused).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfkmany');

sub kcat_values
{
	my ($topic, $fmt) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', $fmt ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return $out;
}

# part 1: 600 rows to 600 topics of ~190 bytes, records of 100000 bytes
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, queue text NOT NULL);
	INSERT INTO jobs SELECT g, 't' || g || '-' || repeat('x', 180) FROM generate_series(1, 600) g;
});
my $b = start_bridge($node, undef, '--slot', 'bf_km', '--create-slot', '--tables', 'public.jobs',
	'--sink', "kafka://$bs", '--route-column', 'queue', '--target-prefix', 'km.',
	'-X', 'message.max.bytes=100000', '--backfill', '--backfill-batch=600');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_km" done|ERROR/ || !$b->{h}->pumpable }, 120),
	'the backfill ended or stopped');
like(bridge_log($b), qr/backfill of slot "bf_km" done: 600 rows/, 'the backfill is done: 600 rows')
  or diag(join("\n", (grep { /WARNING|ERROR/ } split /\n/, bridge_log($b))[0 .. 5]));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
my @states = split /\n--end--\n/, kcat_values('km.wal2queue-backfill.bf_km', '%S %s\n--end--\n');
my @big = grep { /^(\d+)/ && $1 > 100000 - 2048 } @states;
my %pages = map { /\npage=(\d+)/ ? ($1 => 1) : () } @states;
ok(@states > 0 && @big == 0, 'every state record fits message.max.bytes')
  or diag(scalar(@states) . ' records, ' . scalar(@big) . ' too large');
# the marker, the cut 600-row page (at least 2), the done record
cmp_ok(scalar(keys %pages), '>=', 4, 'the 600-row page was cut into Kafka pages')
  or diag(join(" ", sort keys %pages));
my @miss = grep { kcat_values("km.t$_-" . ('x' x 180), '%s\n') !~ /"id":"?$_\b/ } (1, 2, 299, 300, 301, 599, 600);
ok(@miss == 0, 'sampled rows are in their topics') or diag("missing: @miss");

# part 1 with --kafka-transactions: each cut page its own transaction
$b = start_bridge($node, undef, '--slot', 'bf_kmt', '--create-slot', '--tables', 'public.jobs',
	'--sink', "kafka://$bs", '--route-column', 'queue', '--target-prefix', 'kt.', '--kafka-transactions',
	'-X', 'message.max.bytes=100000', '--backfill', '--backfill-batch=600');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_kmt" done|ERROR/ || !$b->{h}->pumpable }, 180),
	'transactions: the backfill ended or stopped');
like(bridge_log($b), qr/backfill of slot "bf_kmt" done: 600 rows/, 'transactions: the backfill is done: 600 rows')
  or diag(join("\n", (grep { /WARNING|ERROR/ } split /\n/, bridge_log($b))[0 .. 5]));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
@states = split /\n--end--\n/, kcat_values('kt.wal2queue-backfill.bf_kmt', '%S %s\n--end--\n');
%pages = map { /\npage=(\d+)/ ? ($1 => 1) : () } @states;
cmp_ok(scalar(keys %pages), '>=', 4, 'transactions: the 600-row page was cut into Kafka pages');
@miss = grep { kcat_values("kt.t$_-" . ('x' x 180), '%s\n') !~ /"id":"?$_\b/ } (1, 300, 301, 600);
ok(@miss == 0, 'transactions: sampled rows are in their topics') or diag("missing: @miss");

# part 2: killed half-way through the first cut page, restarted
$node->safe_psql('postgres', q{
	CREATE TABLE jobs2 (id bigint PRIMARY KEY, queue text NOT NULL);
	INSERT INTO jobs2 SELECT g, 'u' || (g % 60) || '-' || repeat('y', 180) FROM generate_series(1, 120) g;
});
my @cmd = ('--slot', 'bf_km2', '--create-slot', '--tables', 'public.jobs2', '--sink', "kafka://$bs",
	'--route-column', 'queue', '--target-prefix', 'k2.', '-X', 'message.max.bytes=8000',
	'--backfill', '--backfill-batch=120');
my $a = start_paused_bridge($node, 'page-half', 120, @cmd);
ok(wait_until(sub { bridge_log($a) =~ /paused at "page-half"/ }, 60), 'half of the first cut page is in kafka');
stop_bridge($a, 'KILL');
$b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_km2" done|ERROR/ || !$b->{h}->pumpable }, 120),
	'the restart ended its backfill or stopped');
like(bridge_log($b), qr/backfill of slot "bf_km2" done/, 'the restarted backfill is done')
  or diag(join("\n", (grep { /WARNING|ERROR/ } split /\n/, bridge_log($b))[0 .. 5]));
like(bridge_log($b), qr/rows were in kafka already/, 'the cut page\'s rows sent before the kill are skipped');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
my %seen;
for my $t (0 .. 59)
{
	$seen{$_}++ for map { /"id":"?(\d+)/ ? $1 : () } split /\n/, kcat_values("k2.u$t-" . ('y' x 180), '%s\n');
}
my @dup = grep { ($seen{$_} // 0) > 1 } 1 .. 120;
my @missing = grep { !$seen{$_} } 1 .. 120;
ok(@dup == 0 && @missing == 0, 'each of the 120 rows once')
  or diag(scalar(@dup) . " twice (@dup[0 .. ($#dup < 9 ? $#dup : 9)]), " . scalar(@missing) . " missing");

# part 3: a topic whose name alone does not fit a state record
$node->safe_psql('postgres', q{
	CREATE TABLE jobs3 (id bigint PRIMARY KEY, queue text NOT NULL);
	INSERT INTO jobs3 VALUES (1, 'ok'), (2, repeat('z', 3000));
});
$b = start_bridge($node, undef, '--slot', 'bf_km3', '--create-slot', '--tables', 'public.jobs3',
	'--sink', "kafka://$bs", '--route-column', 'queue', '--target-prefix', 'k3.',
	'-X', 'message.max.bytes=5000', '--backfill');
ok(wait_until(sub { bridge_log($b) =~ /ERROR/ || !$b->{h}->pumpable }, 60), 'the bridge stops');
like(bridge_log($b), qr/ERROR:.*backfill of table public\.jobs3: the row with key \["2"\] goes to a topic whose name does not fit a backfill state record within message\.max\.bytes \(5000\): raise it .*the topic: k3\.zzz/,
	'the refusal names the table, the row, the topic and message.max.bytes');
is(kcat_values('k3.ok', '%s\n'), '', 'refused before any row of the page was sent (row 1 fits but is not sent)');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
