# --backfill into Kafka (bridge/kafka_backfill.c), exactly once, proven with
# kill -9: two tables (a bigint key, a text key) with pending and completed
# rows, --backfill="status = 'pending'" in pages of 40, the bridge killed with
# SIGKILL at least 12 times during the backfill (mid-page: the producer sends
# requests of at most 5 messages, linger 0, and the mock answers 15 ms late,
# so a kill leaves pages half in Kafka without their state record), rows
# inserted all the while, then the same command line until the backfill is
# done and the stream flows.  Checked with kcat: every selected row and every
# new row exactly once per key, no completed row of the backfill, the
# backfilled messages' headers (lsn = the consistent point, backfill =
# the position key); a restart after done streams without reading a table.
#
# librdkafka's mock cluster neither fences a killed producer nor hides aborted
# transactions from read_committed consumers (nor from the bridge's own
# read-back of a cut page).  So the kills prove the mode without
# transactions, whose evidence is the messages themselves; with
# --kafka-transactions a kill leaves an aborted page that a real broker hides
# and the mock shows, and the bridge would rightly skip rows the mock only
# pretends to hold: --kafka-transactions is tested with a clean run (one
# transaction per page, backfill then stream, each key once).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.jobs 3') && kafka_mock_cmd($k, 'create public.more 2'),
	"mock cluster at $bs: public.jobs (3 partitions), public.more (2)");

my $node = new_node('backfill_kafka');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL, payload jsonb NOT NULL);
	INSERT INTO jobs SELECT g, CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'pending' END,
	                        jsonb_build_object('n', g)
	  FROM generate_series(1, 12000) g;
	CREATE TABLE more (k text PRIMARY KEY, status text NOT NULL, n int);
	INSERT INTO more SELECT 'k' || g, CASE WHEN g % 4 = 0 THEN 'completed' ELSE 'pending' END, g
	  FROM generate_series(1, 4000) g;
	CREATE TABLE inserter_stop (x int);
	CREATE SEQUENCE new_ids START 1000000;
	ANALYZE;
});
my %want_bf = (
	'public.jobs' => { map { $_ => 1 } split /\n/,
		$node->safe_psql('postgres', "SELECT id FROM jobs WHERE status = 'pending'") },
	'public.more' => { map { $_ => 1 } split /\n/,
		$node->safe_psql('postgres', "SELECT k FROM more WHERE status = 'pending'") });
my $n_selected = keys(%{ $want_bf{'public.jobs'} }) + keys(%{ $want_bf{'public.more'} });

# every message of a topic: [key, partition, headers]
sub messages
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q',
			'-f', '%k\t%p\t%h\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { [ split /\t/, $_, 3 ] } grep { $_ ne '' } split /\n/, $out;
}

# messages on both topics, from the partitions' last offsets (no transactions)
sub count_fast
{
	my $n = 0;
	for my $topic ('public.jobs', 'public.more')
	{
		my ($out, $err) = ('', '');
		IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', '-1', '-e', '-q', '-f', '%p %o\n' ],
			'>', \$out, '2>', \$err, IPC::Run::timeout(60));
		# messages produced while kcat reads come too: each partition's largest
		my %end;
		for (split /\n/, $out)
		{
			$end{$1} = $2 + 1 if /^(\d+) (\d+)$/ && $2 + 1 > ($end{$1} // 0);
		}
		$n += $_ for values %end;
	}
	return $n;
}

# the bridge with a log of its own per run (start_bridge names logs by the second)
my $runs = 0;
sub start_run
{
	my (@args) = @_;
	my $log = $PostgreSQL::Test::Utils::tmp_check . '/bridge_036_' . ++$runs . '.log';
	my $h = IPC::Run::start([ bridge_path(), '-v', @args ], '>', $log, '2>&1');
	return { h => $h, log => $log };
}

my @cmd = ('-d', $node->connstr('postgres'), '--slot', 'bfk', '--create-slot',
	"--backfill=status = 'pending'", '--backfill-batch=40', '--tables', 'public.jobs,public.more',
	'--sink', "kafka://$bs", '-X', 'batch.num.messages=5', '-X', 'linger.ms=0');

# rows inserted while the bridge is killed: all of them after the slot's
# consistent point, so the stream's (pending or not), one a transaction
sub start_inserter
{
	return IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', q{
	DO $$ DECLARE i bigint; BEGIN
	  LOOP
	    i := nextval('new_ids');
	    INSERT INTO jobs VALUES (i, CASE WHEN i % 2 = 0 THEN 'pending' ELSE 'completed' END, '{}');
	    IF i % 3 = 0 THEN INSERT INTO more VALUES ('new' || i, 'pending', 0); END IF;
	    COMMIT;
	    EXIT WHEN EXISTS (SELECT FROM inserter_stop);
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	END $$;} ], '>', '/dev/null', '2>', '/dev/null');
}

ok(kafka_mock_cmd($k, 'rtt -1 15'), 'the mock answers 15 ms late during the kills');
my $inserter;
my ($kills, $resumed_cut) = (0, 0);
my $t0 = time();
while ($kills < 12 && time() - $t0 < 240)
{
	my $br = start_run(@cmd);
	my $from = count_fast();
	# progress in this run, then a kill at a random moment of a page
	my $deadline = time() + 60;
	usleep(20_000) until count_fast() > $from || !$br->{h}->pumpable || time() > $deadline;
	usleep(int(rand(40_000)));
	my $alive = $br->{h}->pumpable;
	$br->{h}->signal('KILL');
	$br->{h}->finish;
	my $log = slurp_file($br->{log});
	$inserter //= start_inserter() if $log =~ /created replication slot/;
	last if $log =~ /backfill of slot "bfk" done/;
	ok($alive, "run $runs: the bridge ran") or diag($log);
	$kills++;
	$resumed_cut++ if $log =~ /rows were in kafka already/;
	note("run $runs: killed at " . count_fast() . " messages");
}
ok($kills >= 12, "killed $kills times during the backfill");
ok($resumed_cut > 0, "$resumed_cut resumed pages found part of their rows in Kafka already");
ok(kafka_mock_cmd($k, 'rtt -1 0'), 'the mock answers at once again');

# the slot without --backfill while Kafka's state says unfinished: refused,
# naming the command line that resumes it
my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'bfk',
	'--tables', 'public.jobs,public.more', '--sink', "kafka://$bs");
ok($code == 1 && $out =~ /replication slot "bfk" has an unfinished backfill .*--backfill='status = '\\''pending'\\'''/s,
	'a start without --backfill is refused while the Kafka backfill is unfinished') or diag($out);

my $br = start_run(@cmd);
ok(wait_until(sub { slurp_file($br->{log}) =~ /backfill of slot "bfk" (done|finished earlier)/
		  || !$br->{h}->pumpable }, 120)
	  && $br->{h}->pumpable, 'the same command line finishes the backfill') or diag(slurp_file($br->{log}));
$node->safe_psql('postgres', 'INSERT INTO inserter_stop VALUES (1)');
$inserter->finish if $inserter;
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (999999, 'completed', '{"after": "done"}')});
ok(wait_until(sub { grep { $_->[0] eq '999999' } messages('public.jobs') }, 60),
	'a row inserted after the backfill is streamed') or diag(slurp_file($br->{log}));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

# the same command line after done: streams, reads no table
$br = start_run(@cmd);
$node->safe_psql('postgres', q{INSERT INTO more VALUES ('after-restart', 'completed', 1)});
ok(wait_until(sub { grep { $_->[0] eq 'after-restart' } messages('public.more') }, 60),
	'after a restart the stream flows');
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');
my $log = slurp_file($br->{log});
like($log, qr/the backfill of slot "bfk" finished earlier/, 'the restart knows the backfill is done');
unlike($log, qr/backfill of public\.|resuming the backfill/, 'and reads no table');

# exactly once
for my $topic ('public.jobs', 'public.more')
{
	my $col = $topic eq 'public.jobs' ? 'id' : 'k';
	my $tab = $topic eq 'public.jobs' ? 'jobs' : 'more';
	my %new = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
		$topic eq 'public.jobs' ? 'SELECT id FROM jobs WHERE id > 12000'
		: "SELECT k FROM more WHERE k !~ '^k[0-9]+\$'");
	my (%seen, @dup, @extra, %part);
	my @msgs = messages($topic);
	for my $m (@msgs)
	{
		push @dup, $m->[0] if $seen{ $m->[0] }++ == 1;
		push @extra, $m->[0] unless $want_bf{$topic}{ $m->[0] } || $new{ $m->[0] };
	}
	my @missing = grep { !$seen{$_} } (keys %{ $want_bf{$topic} }, keys %new);
	ok(keys(%new) > 1, "$topic: rows were inserted during the test (" . keys(%new) . ')');
	is(scalar(@missing), 0, "$topic: every selected and every new row delivered")
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
	is(scalar(@dup), 0, "$topic: none twice") or diag("twice: @dup[0 .. ($#dup < 9 ? $#dup : 9)]");
	is(scalar(@extra), 0, "$topic: no completed row backfilled")
	  or diag("extra: @extra[0 .. ($#extra < 9 ? $#extra : 9)]");
}

# the headers of a backfilled and of a streamed message
my ($cp) = slurp_file($PostgreSQL::Test::Utils::tmp_check . '/bridge_036_1.log')
  =~ /created replication slot "bfk" with snapshot \S+ at (\S+)/;
my ($bf1) = grep { $_->[0] eq '1' } messages('public.jobs');
like($bf1->[2], qr/(^|,)lsn=\Q$cp\E(,|$)/, "a backfilled message's lsn is the consistent point $cp");
like($bf1->[2], qr/(^|,)backfill=\["1"\](,|$)/, 'its backfill header is its position key');
like($bf1->[2], qr/(^|,)table=public\.jobs(,|$)/, 'its table header the table');
my ($st) = grep { $_->[0] eq '999999' } messages('public.jobs');
unlike($st->[2], qr/backfill/, 'a streamed message has no backfill header');

# --backfill-again after done: a new backfill of the rows selected now, at
# least once (they were delivered before: each comes a second time), with
# page numbers continuing those of the first backfill
my @again_want = split /\n/, $node->safe_psql('postgres', "SELECT k FROM more WHERE status = 'pending'");
$br = start_run(@cmd, '--backfill-again');
ok(wait_until(sub { slurp_file($br->{log}) =~ /backfill of slot "bfk" done/ || !$br->{h}->pumpable }, 120)
	  && $br->{h}->pumpable, '--backfill-again: a new backfill is done') or diag(slurp_file($br->{log}));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');
my %n_again;
$n_again{ $_->[0] }++ for messages('public.more');
my @short = grep { ($n_again{$_} // 0) < 2 } @again_want;
is(scalar(@short), 0, '--backfill-again: every selected row delivered again (at least once)')
  or diag("not again: @short[0 .. 5]");
my ($last_page) = grep { $_->[0] eq $again_want[-1] } reverse messages('public.more');
like($last_page->[2], qr/backfill_page=(\d+)/, 'its messages carry their page');

# --kafka-transactions: a clean run, one transaction a page
my @tx = ('-d', $node->connstr('postgres'), '--slot', 'bfk_tx', '--create-slot',
	"--backfill=status = 'pending'", '--backfill-batch=100', '--tables', 'public.jobs,public.more',
	'--target-prefix', 'tx.', '--sink', "kafka://$bs", '--kafka-transactions');
my %want_tx = (
	'tx.public.jobs' => { map { $_ => 1 } split /\n/,
		$node->safe_psql('postgres', "SELECT id FROM jobs WHERE status = 'pending'") },
	'tx.public.more' => { map { $_ => 1 } split /\n/,
		$node->safe_psql('postgres', "SELECT k FROM more WHERE status = 'pending'") });
$br = start_run(@tx);
ok(wait_until(sub { slurp_file($br->{log}) =~ /backfill of slot "bfk_tx" done/ || !$br->{h}->pumpable }, 120)
	  && $br->{h}->pumpable, 'transactions: the backfill is done') or diag(slurp_file($br->{log}));
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (999998, 'completed', '{}')});
$want_tx{'tx.public.jobs'}{999998} = 1;
ok(wait_until(sub { grep { $_->[0] eq '999998' } messages('tx.public.jobs') }, 60),
	'transactions: then the stream flows');
# the same key streamed after it was backfilled: the same partition
$node->safe_psql('postgres', q{DELETE FROM jobs WHERE id = 1; INSERT INTO jobs VALUES (1, 'pending', '{}')});
my @one;
ok(wait_until(sub { (@one = grep { $_->[0] eq '1' } messages('tx.public.jobs')) == 2 }, 60)
	  && $one[0][2] =~ /backfill=/ && $one[1][2] !~ /backfill=/,
	'transactions: key 1 backfilled, then streamed');
is($one[1][1], $one[0][1], "both in partition $one[0][1]: a backfilled row goes where the stream puts its key");
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');
for my $topic (sort keys %want_tx)
{
	my (%seen, @dup, @extra);
	for my $m (messages($topic))
	{
		my $allowed = $topic eq 'tx.public.jobs' && $m->[0] eq '1' ? 2 : 1;	# key 1 again, above
		push @dup, $m->[0] if $seen{ $m->[0] }++ == $allowed;
		push @extra, $m->[0] unless $want_tx{$topic}{ $m->[0] };
	}
	my @missing = grep { !$seen{$_} } keys %{ $want_tx{$topic} };
	ok(@missing == 0 && @dup == 0 && @extra == 0,
		"transactions, $topic: each selected row once (" . keys(%seen) . ' keys)')
	  or diag("missing @missing[0 .. 5]; twice @dup[0 .. 5]; extra @extra[0 .. 5]");
}
like(slurp_file($br->{log}), qr/kafka transaction committed/, 'transactions: pages were committed');

stop_kafka_mock($k);
$node->stop;
done_testing();
