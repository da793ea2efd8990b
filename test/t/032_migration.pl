# docs/migration.md, followed literally: a SKIP LOCKED job_queue with
# 100,000 pending and 900,000 completed jobs, producers inserting all the
# time, the bridge started with the guide's command line
# (--create-slot --backfill="status = 'pending'"), killed with -9 right
# after it created the slot, twice during the backfill and once while
# streaming, and restarted with the same
# command line each time, while an old SKIP LOCKED poller keeps completing
# jobs until step 4.  Every pending job and every job inserted meanwhile
# that the old poller did not take must be in Redis exactly once, those it
# took at most once (docs/migration.md, step 1: a row updated after the
# snapshot is judged by its new version after a restart), no completed job
# at all.  Step 5 as the guide says: append_only(), prune() (rows
# inserted after it, once delivered), then the rows from before it once
# with force => true; a row inserted while the bridge is stopped survives
# both, and every row deleted was delivered or done (completed before the
# migration, or by the old poller).
#
# W2Q_MIGRATION_PENDING / W2Q_MIGRATION_COMPLETED shrink the table (the
# defaults are the issue's numbers); W2Q_MIGRATION_BATCH adds
# --backfill-batch=N to the command line (default: the guide's, none).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(time usleep);
use W2QTest;

my $n_pending = $ENV{W2Q_MIGRATION_PENDING} // 100_000;
my $n_completed = $ENV{W2Q_MIGRATION_COMPLETED} // 900_000;
my $n_total = $n_pending + $n_completed;
my $t0 = time();

sub elapsed { return sprintf('%.1f s', time() - $t0) }

my $node = new_node('migration', conf => "max_slot_wal_keep_size = 4GB\nwal_sender_timeout = 10s\n");
my $r = start_redis();

# ---- the queue before the migration (the article's schema) ----
# one job in ten is pending, spread over the whole key range, so the
# backfill's keyset batches walk past completed rows
$node->safe_psql('postgres', qq{
	CREATE TABLE job_queue (
		id         bigserial PRIMARY KEY,
		payload    jsonb NOT NULL,
		status     text NOT NULL DEFAULT 'pending',
		created_at timestamptz NOT NULL DEFAULT now());
	CREATE INDEX job_queue_pending ON job_queue (id) WHERE status = 'pending';
	INSERT INTO job_queue (payload, status)
	SELECT jsonb_build_object('type', 'send_email', 'user_id', g, 'body', 'lorem ipsum dolor sit amet'),
	       CASE WHEN (g * 7919) % $n_total < $n_pending THEN 'pending' ELSE 'completed' END
	FROM generate_series(1::bigint, $n_total) g;
	VACUUM ANALYZE job_queue;
	CREATE TABLE producer_stop (x int);
	CREATE TABLE initial_pending AS SELECT id FROM job_queue WHERE status = 'pending';
	CREATE TABLE new_done (id bigint PRIMARY KEY);
});
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status = 'pending'"),
	$n_pending, "$n_pending pending jobs");
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status = 'completed'"),
	$n_completed, "$n_completed completed jobs");
my $initial_max = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
note('table filled after ' . elapsed());

# ---- producers: plain INSERTs all the time, some transactions rolled back ----
sub start_producer
{
	my ($no) = @_;
	my $sql = qq{DO \$\$
	DECLARE i int := 0;
	BEGIN
		LOOP
			i := i + 1;
			INSERT INTO job_queue (payload)
			SELECT jsonb_build_object('producer', $no, 'n', i, 'k', k) FROM generate_series(1, 1 + i % 3) k;
			IF i % 10 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
			EXIT WHEN EXISTS (SELECT FROM producer_stop);
			PERFORM pg_sleep(0.005);
		END LOOP;
	END \$\$;};
	my ($out, $err) = ('', '');
	return IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
}
my @producers = map { start_producer($_) } 1 .. 2;

# an old SKIP LOCKED poller keeps claiming and completing jobs until step 4
# (newest first, so it also takes rows the backfill reaches last); it
# records what it did in old_done
$node->safe_psql('postgres', 'CREATE TABLE old_done (id bigint PRIMARY KEY); CREATE TABLE poller_stop (x int)');
my $poller = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', q{DO $$
	DECLARE j bigint;
	BEGIN
		LOOP
			UPDATE job_queue SET status = 'running'
			WHERE id = (SELECT id FROM job_queue WHERE status = 'pending'
			            ORDER BY id DESC FOR UPDATE SKIP LOCKED LIMIT 1)
			RETURNING id INTO j;
			IF j IS NOT NULL THEN
				UPDATE job_queue SET status = 'completed' WHERE id = j;
				INSERT INTO old_done VALUES (j);
			END IF;
			COMMIT;
			EXIT WHEN EXISTS (SELECT FROM poller_stop);
			PERFORM pg_sleep(0.01);
		END LOOP;
	END $$;} ], '>', \my $pout, '2>', \my $perr);

# ---- step 1, as the guide says ----
my $mport = free_port();
my @cmd = ('-d', $node->connstr('postgres') . ' user=wal2queue_bridge',
	'--slot', 'job_queue', '--create-slot', "--backfill=status = 'pending'",
	'--tables', 'public.job_queue', '--redis-group', 'workers',
	'--sink', "redis://127.0.0.1:$r->{port}", '--metrics', "127.0.0.1:$mport", '--log-status', '60',
	(defined $ENV{W2Q_MIGRATION_BATCH} ? ("--backfill-batch=$ENV{W2Q_MIGRATION_BATCH}") : ()));

# step 0: the bridge's role, LOGIN REPLICATION and SELECT on the table;
# the extension before step 1 (prune() of step 5 needs it)
$node->safe_psql('postgres', q{
	CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
	GRANT SELECT ON job_queue TO wal2queue_bridge;
	CREATE EXTENSION wal2queue;
	GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge;
});
is($node->safe_psql('postgres', 'SHOW wal_level'), 'logical', 'prerequisite: wal_level = logical');

sub metrics
{
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or return '';
	print $s "GET /metrics HTTP/1.0\r\n\r\n";
	local $/;
	my $body = <$s>;
	return $body // '';
}

sub xlen { return redis($r, 'XLEN', 'public.job_queue') || 0 }

# XLEN on a connection of its own, to poll every millisecond: a page of
# 10,000 rows takes a few tens of ms, and the kill must land between pages
my $rs = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port}) or die "redis: $!";
sub xlen_fast
{
	print $rs "*2\r\n\$4\r\nXLEN\r\n\$16\r\npublic.job_queue\r\n";
	my $line = <$rs>;
	return $line =~ /^:(\d+)/ ? $1 : 0;
}

# kill -9 once the backfill has delivered $at jobs, and check that it was
# still running (the stream begins only after the backfill)
sub kill_during_backfill
{
	my ($br, $at, $what) = @_;
	my $deadline = time() + 90;
	usleep(1000) until xlen_fast() >= $at || !$br->{h}->pumpable || time() > $deadline;
	my $hit = $br->{h}->pumpable && xlen() >= $at;
	$br->{h}->signal('KILL');
	$br->{h}->finish;
	my $len = xlen();
	note("$what: killed at $len entries after " . elapsed());
	ok($hit && $len < $n_pending, "$what: kill -9 landed during the backfill ($len of $n_pending)")
	  or diag(bridge_log($br));
}

# killed the moment the slot exists, before (most likely) the first page
# was recorded: the same command line must still resume, exactly once
my $br = start_bridge(undef, undef, @cmd);
ok(wait_until(sub { bridge_log($br) =~ /created replication slot/ || !$br->{h}->pumpable }, 60)
	  && $br->{h}->pumpable, 'run 0: the slot is created') or diag(bridge_log($br));
$br->{h}->signal('KILL');
$br->{h}->finish;
note('run 0: killed at ' . xlen() . ' entries after ' . elapsed());

$br = start_bridge(undef, undef, @cmd);
kill_during_backfill($br, int($n_pending * 0.2), 'first run');
$br = start_bridge(undef, undef, @cmd);
kill_during_backfill($br, int($n_pending * 0.6), 'second run');

$br = start_bridge(undef, undef, @cmd);
wait_until(sub { xlen() > $n_pending || !$br->{h}->pumpable }, 150);
ok(xlen() > $n_pending, 'third run: the backfill finished and the stream flows')
  or diag(bridge_log($br));
note('backfill finished after ' . elapsed());
like(bridge_log($br), qr/backfill of public\.job_queue: \d+ of ~\d+ rows/, 'the log reports the backfill\'s progress');
my $m = metrics($mport);
like($m, qr/^wal2queue_backfill_running(\{[^}]*\})? 0$/m, '/metrics: wal2queue_backfill_running 0 once it finished');
like($m, qr/^wal2queue_backfill_rows_done(\{[^}]*\})? [1-9]\d*$/m, '/metrics: wal2queue_backfill_rows_done');
like($m, qr/^wal2queue_backfill_rows_estimated(\{[^}]*\})? \d+$/m, '/metrics: wal2queue_backfill_rows_estimated');

# the same command line once more, while streaming: it only streams
usleep(500_000);
$br->{h}->signal('KILL');
$br->{h}->finish;
$br = start_bridge(undef, undef, @cmd);

# ---- step 3: a new worker reads the group, with the guide's transition
# rule: it works on a job only if it can claim it in the table ----
sub work_batch
{
	# XREADGROUP in a script, returning entry ID and the id field of each
	my @x = split /\n/, redis($r, 'EVAL', q{
		local r = redis.call('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', '5000', 'STREAMS', KEYS[1], '>')
		local out = {}
		if not r then return out end
		for _, e in ipairs(r[1][2]) do
			local f = e[2]
			for j = 1, #f, 2 do
				if f[j] == 'id' then out[#out + 1] = e[1]; out[#out + 1] = f[j + 1] end
			end
		end
		return out}, '1', 'public.job_queue');
	return 0 unless @x;
	my (@ids, @eids);
	while (my ($eid, $id) = splice(@x, 0, 2))
	{
		push @ids, $id;
		push @eids, $eid;
	}
	my $list = join(',', @ids);
	$node->safe_psql('postgres', qq{WITH c AS (UPDATE job_queue SET status = 'completed'
		WHERE id IN ($list) AND status = 'pending' RETURNING id) INSERT INTO new_done SELECT id FROM c});
	redis($r, 'XACK', 'public.job_queue', 'workers', @eids);
	return scalar @ids;
}
my $worked = 0;
$worked += work_batch() for 1 .. 10;
note("the new worker took $worked entries while the old poller ran");

# ---- step 4: the old poller stops ----
$node->safe_psql('postgres', 'INSERT INTO poller_stop VALUES (1)');
$poller->finish;
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status = 'running'"), '0',
	'the old poller left no job running');
# ---- producers stop ----
$node->safe_psql('postgres', 'INSERT INTO producer_stop VALUES (1)');
$_->finish for @producers;
$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"sentinel":true}')});
my $sentinel = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
my $lua = q{local r = redis.call('XRANGE', KEYS[1], '-', '+')
	local out = {}
	for i, e in ipairs(r) do
		local f = e[2]
		for j = 1, #f, 2 do if f[j] == 'id' then out[#out + 1] = f[j + 1] end end
	end
	return out};
sub delivered_ids { return split /\n/, redis($r, 'EVAL', $lua, '1', 'public.job_queue') }
ok(wait_until(sub { !$br->{h}->pumpable
		  || (redis($r, 'XREVRANGE', 'public.job_queue', '+', '-', 'COUNT', '1') =~ /^id\n\Q$sentinel\E$/m) }, 120)
	  && $br->{h}->pumpable,
	'the sentinel job arrived') or diag(bridge_log($br));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

# the new worker drains the stream
my $n;
$worked += $n while ($n = work_batch()) > 0;
note("the new worker took $worked entries in all");
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status <> 'completed'"), '0',
	'transition rule: every job is done');
is($node->safe_psql('postgres', 'SELECT count(*) FROM old_done JOIN new_done USING (id)'), '0',
	'transition rule: no job done by both the old poller and the new worker');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM new_done
	WHERE id <= $initial_max AND id NOT IN (SELECT id FROM initial_pending)}), '0',
	'transition rule: the new worker did no job completed before the migration');

# ---- verification ----
my %want = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', qq{
	SELECT id FROM initial_pending UNION ALL SELECT id FROM job_queue WHERE id > $initial_max
	EXCEPT SELECT id FROM old_done});
my %old_done = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', 'SELECT id FROM old_done');
my %completed = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', qq{
	SELECT id FROM job_queue WHERE id <= $initial_max EXCEPT SELECT id FROM initial_pending});
note(scalar(keys %old_done) . ' jobs done by the old poller meanwhile');
ok(keys %old_done > 10, 'the old poller completed jobs during the migration');
my $n_new = $node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id > $initial_max");
note("$n_new jobs inserted during the migration");
ok($n_new > 100, "producers inserted jobs throughout ($n_new)");
my (%seen, @dup, @extra, @completed_sent);
for my $id (delivered_ids())
{
	push @dup, $id if $seen{$id}++ == 1;
	push @completed_sent, $id if $completed{$id};
	push @extra, $id if !$want{$id} && !$completed{$id} && !$old_done{$id};
}
my @old_twice = grep { ($seen{$_} // 0) > 1 } keys %old_done;
is(scalar(@old_twice), 0, 'jobs the old poller completed: at most once (delivered or not, see the guide)');
note(scalar(grep { $seen{$_} } keys %old_done) . ' of them were delivered too');
my @missing = grep { !$seen{$_} } sort { $a <=> $b } keys %want;
is(scalar(@missing), 0, 'every pending and every new job that the old poller did not take was delivered')
  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
is(scalar(@dup), 0, 'none twice') or diag("twice: @dup[0 .. ($#dup < 9 ? $#dup : 9)]");
is(scalar(@completed_sent), 0, 'no completed job') or diag("completed: @completed_sent[0 .. 9]");
is(scalar(@extra), 0, 'no job PostgreSQL does not have (rolled back)') or diag("extra: @extra[0 .. 9]");
my $groups = redis($r, 'XINFO', 'GROUPS', 'public.job_queue');
like($groups, qr/^workers$/m, 'the consumer group "workers" exists for the new workers');

step5();

# ---- step 5, as the guide says: the workers no longer UPDATE (the
# transition rule dropped), append_only(), prune(); the rows from before
# append_only() once with force => true ----
sub ids_in_table { return map { $_ => 1 } split /\n/, $node->safe_psql('postgres', 'SELECT id FROM job_queue') }

# prune (the SQL $sql), "repeat until it returns 0", until $done->() or
# 300 s (after a 0: a CHECKPOINT, so that the slot's catalog_xmin moves);
# the number deleted
sub prune_while
{
	my ($sql, $done) = @_;
	my ($deleted, $n, $deadline) = (0, 0, time() + 300);
	while (time() < $deadline)
	{
		if ($n == 0)
		{
			$node->safe_psql('postgres', 'CHECKPOINT');
			usleep(500_000);
		}
		$n = $node->safe_psql('postgres', $sql);
		$deleted += $n;
		last if $done->();
	}
	return $deleted;
}

sub step5
{
	is($node->safe_psql('postgres', q{SELECT backfilled_at IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'job_queue'}),
		't', 'step 5: the backfill is recorded as finished (mark_backfilled)');
	my ($rc, $o, $e) = $node->psql('postgres', q{SELECT wal2queue.prune('public.job_queue')});
	like($e, qr/is not append-only/, 'step 5: before append_only(), prune() refuses the table');
	$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.job_queue')});
	($rc, $o, $e) = $node->psql('postgres', q{UPDATE job_queue SET status = 'running' WHERE id = 1});
	like($e, qr/is append-only/, 'step 5: an UPDATE (the transition rule) is an error from now on');
	my $pre_max = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
	my $pre_count = $node->safe_psql('postgres', 'SELECT count(*) FROM job_queue');

	# the service again; producers go on inserting
	$br = start_bridge(undef, undef, @cmd);
	$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) SELECT jsonb_build_object('post', g) FROM generate_series(1, 50) g});
	my $post_max = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
	ok(wait_until(sub { redis($r, 'XREVRANGE', 'public.job_queue', '+', '-', 'COUNT', '1') =~ /^id\n\Q$post_max\E$/m }, 60),
		'step 5: the rows inserted after append_only() are streamed') or diag(bridge_log($br));
	ok(wait_attested($node, 'job_queue', 60), 'step 5: the bridge attested its slot');

	# prune(): the rows inserted after append_only(), only those
	my $d = prune_while(q{SELECT wal2queue.prune('public.job_queue')},
		sub { $node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id > $pre_max") eq '0' });
	is($d, 50, 'step 5: prune() deletes the 50 delivered rows inserted after append_only()');
	is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id <= $pre_max"), $pre_count,
		'step 5: prune() keeps every row from before append_only()');

	# a row inserted while the bridge is stopped: delivered by nobody yet
	is(stop_bridge($br) >> 8, 0, 'step 5: the bridge stopped');
	$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"undelivered": true}')});
	my $undelivered = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
	my %before = ids_in_table();

	# the rows from before append_only(): once, force => true
	$d = prune_while(q{SELECT wal2queue.prune('public.job_queue', force => true)},
		sub { $node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id <= $pre_max") eq '0' });
	is($d, $pre_count, "step 5: prune(force => true) deletes the $pre_count rows from before append_only()");
	$node->safe_psql('postgres', 'CHECKPOINT');
	$d = $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.job_queue')})
	  + $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.job_queue', force => true)});
	is($d, 0, 'step 5: then neither prune() finds anything more to delete');
	is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id = $undelivered"), '1',
		'step 5: neither prune() deletes the row inserted while the bridge was stopped');
	my %after = ids_in_table();
	my %sent = map { $_ => 1 } delivered_ids();
	# (or done by the old poller: a row it claimed before the backfill
	# reached it is judged by its new version after a restart, step 1)
	my @bad = grep { !$after{$_} && !$sent{$_} && !$completed{$_} && !$old_done{$_} } sort { $a <=> $b } keys %before;
	is(scalar(@bad), 0, 'step 5: every row deleted was delivered, completed before the migration or done by the old poller')
	  or diag("deleted undelivered: @bad[0 .. ($#bad < 9 ? $#bad : 9)]");

	# the service again: the row is delivered, then prune() deletes it
	$br = start_bridge(undef, undef, @cmd);
	ok(wait_until(sub { redis($r, 'XREVRANGE', 'public.job_queue', '+', '-', 'COUNT', '1') =~ /^id\n\Q$undelivered\E$/m }, 60),
		'step 5: the row inserted while the bridge was stopped is delivered') or diag(bridge_log($br));
	wait_attested($node, 'job_queue', 60);
	prune_while(q{SELECT wal2queue.prune('public.job_queue')},
		sub { $node->safe_psql('postgres', 'SELECT count(*) FROM job_queue') eq '0' });
	is($node->safe_psql('postgres', 'SELECT count(*) FROM job_queue'), '0',
		'step 5: then prune() deletes it: the table is empty');
	is(stop_bridge($br) >> 8, 0, 'step 5: SIGTERM: exit 0');
	note('step 5 done after ' . elapsed());
}

# ---- rolling back (docs/migration.md): stop the bridge (done), drop the slot ----
my ($code, $out) = run_bridge('-d', $node->connstr('postgres') . ' user=wal2queue_bridge',
	'--slot', 'job_queue', '--drop-slot');
is($code, 0, 'rollback: --drop-slot drops the slot') or diag($out);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'job_queue'"),
	'0', 'no slot holds WAL any more');
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE status IN ('running', 'pending')"), '0',
	'the table: every job says completed, nothing for the old pollers to redo');

# the service's command line after the slot was dropped must not re-create
# it silently (the sink holds this slot's record): exit 1, nothing written
my $len = xlen();
$node->safe_psql('postgres', q{INSERT INTO job_queue (payload) VALUES ('{"after":"rollback"}')});
$br = start_bridge(undef, undef, @cmd);
my $exited = wait_until(sub { !$br->{h}->pumpable }, 20);
$br->{h}->kill_kill unless $exited;
$br->{h}->finish;
ok($exited && ($br->{h}->full_result(0) >> 8) == 1, 'the same command line after the rollback: exit 1')
  or diag(bridge_log($br));
like(bridge_log($br), qr/replication slot "job_queue" does not exist but redis holds its record from this server \(backfill done.*\).*--backfill-again/,
	'naming the dropped slot and the explicit way to deliver again') or diag(bridge_log($br));
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'job_queue'"),
	'0', 'and no slot created');
is(xlen(), $len, 'and nothing written');
note('done after ' . elapsed());

stop_redis($r);
$node->stop;
done_testing();
