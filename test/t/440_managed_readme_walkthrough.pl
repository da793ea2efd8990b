# The README's "Managed PostgreSQL" section, followed literally (issue 12):
# a server that refuses custom output plugins (the default
# output_plugin_libraries), a database owned by an administrator role that
# is no superuser (CREATEROLE, as on RDS, Azure, Cloud SQL), the SQL side
# installed with the standalone script, a bridge role that is REPLICATION,
# no superuser and owns the job table, an application role that INSERTs and
# send()s.  Each command below is a copy of the README's; the test first
# checks that the section still holds it (whitespace aside), so the two
# cannot drift, then runs it through sh with only the host, the ports and
# the bridge's path replaced.  Then the bridge streams into Redis and into
# Kafka (the mock cluster), is killed with kill -9 mid-stream and started
# again with the same command, PostgreSQL restarts, and every job (row or
# send()) is in the stream and in the topic exactly once; prune() as the
# table's owner deletes the delivered rows.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my ($section) = slurp_file("$root/README.md") =~ /^## Managed PostgreSQL\n(.*?)^## /ms;
ok(defined $section, 'the README has a section "Managed PostgreSQL"');
(my $flat = $section // '') =~ s/\s+/ /g;

# the provider: logical decoding on, the default allow-list, an
# administrator role without superuser that owns database app
my $node = new_node('readme440', no_allow_list => 1, conf => "max_slot_wal_keep_size = 10GB\n");
is($node->safe_psql('postgres', 'SHOW output_plugin_libraries'), 'pgoutput, test_decoding',
	'the server keeps the default output_plugin_libraries');
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE DATABASE app OWNER admin;
});
my $r = start_redis();
my $kafka = start_kafka_mock();
ok(kafka_mock_cmd($kafka, 'create emails 4'), 'the Kafka topic emails (4 partitions)');

my $work = $PostgreSQL::Test::Utils::tmp_check . '/clone';
mkdir $work;
# a clone's sql/: its sources, nothing built
system('cp', '-r', "$root/sql", "$work/sql") == 0 or die "could not copy sql/";
unlink("$work/sql/wal2queue-standalone.sql", "$work/sql/wal2queue--1.0.sql");

# the README's command, checked (once) to be there, as sh runs it here
my %checked;
sub readme
{
	my ($cmd) = @_;
	(my $f = $cmd) =~ s/\s+/ /g;
	ok(index($flat, $f) >= 0, "the README holds: " . substr($f, 0, 90))
	  or diag("not in the section: $f")
	  unless $checked{$f}++;
	my $host = 'host=' . $node->host . ' port=' . $node->port;
	$cmd =~ s/host=db\.example\.com/$host/g;
	$cmd =~ s{redis://localhost:6379}{redis://127.0.0.1:$r->{port}}g;
	$cmd =~ s/broker1:9092/$kafka->{bootstrap}/g;
	$cmd =~ s/^redis-cli /redis-cli -p $r->{port} /;
	$cmd =~ s/^PGPASSWORD=(\S+) wal2queue-bridge /exec env PGPASSWORD=$1 ${\ bridge_path()} /;
	return $cmd;
}

# run one README command to completion: (exit status, stdout, stderr)
sub sh
{
	my ($cmd) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'sh', '-c', readme($cmd) ], '>', \$out, '2>', \$err,
		init => sub { chdir $work }, IPC::Run::timeout(120));
	$h->finish;
	return ($h->full_result(0) >> 8, $out, $err);
}

# run a README command that must succeed
sub sh_ok
{
	my ($cmd, $what) = @_;
	my ($rc, $out, $err) = sh($cmd);
	is($rc, 0, $what) or diag($err);
	unlike($err, qr/ERROR/, "$what: no error") or diag($err);
	return ($out, $err);
}

# start the README's bridge command in the background
sub start_readme_bridge
{
	my ($cmd, $name) = @_;
	my $log = $PostgreSQL::Test::Utils::tmp_check . "/bridge_${name}_" . time() . '.log';
	my $h = IPC::Run::start([ 'sh', '-c', readme($cmd) ], '>', $log, '2>&1');
	return { h => $h, log => $log };
}

# 0. the bridge: built by the harness (W2Q_BRIDGE), not again here
readme('make -C bridge && sudo make -C bridge install');

# 2. the SQL side
my ($o, $e) = sh_ok('make -C sql standalone', 'make -C sql standalone');
ok(-s "$work/sql/wal2queue-standalone.sql", 'it writes sql/wal2queue-standalone.sql');
($o, $e) = sh_ok('psql -v ON_ERROR_STOP=1 -d "host=db.example.com dbname=app user=admin" -f sql/wal2queue-standalone.sql',
	'the administrator installs the standalone script');
like($e, qr/WARNING:  could not revoke EXECUTE on pg_logical_emit_message/,
	'a WARNING names the REVOKE of step 5');
like($e, qr/WARNING:  could not create the event triggers of wal2queue/, 'and the event triggers');

# 3. the bridge's role: "a server of your own, as a superuser"
my $create_role = q{CREATE ROLE wal2queue_bridge LOGIN REPLICATION PASSWORD 'secret'};
readme($create_role);
$node->safe_psql('postgres', $create_role);
sh_ok(q{psql -d "host=db.example.com dbname=app user=admin" -c "GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge" -c "GRANT CREATE ON DATABASE app TO wal2queue_bridge" -c "GRANT CREATE ON SCHEMA public TO wal2queue_bridge"},
	'the administrator grants the bridge role what it needs');

# 4. the job table and the application's role
sh_ok(q{PGPASSWORD=secret psql -d "host=db.example.com dbname=app user=wal2queue_bridge" -c "SELECT wal2queue.create_job_table('public.jobs')"},
	'the bridge role creates the job table');
sh_ok(q{psql -d "host=db.example.com dbname=app user=admin" -c "CREATE ROLE app_writer LOGIN PASSWORD 'secret2' IN ROLE wal2queue_sender" -c "GRANT USAGE ON SCHEMA wal2queue TO app_writer"},
	'the administrator creates the application role');
sh_ok(q{PGPASSWORD=secret psql -d "host=db.example.com dbname=app user=wal2queue_bridge" -c "GRANT INSERT ON public.jobs TO app_writer" -c "GRANT USAGE ON SEQUENCE public.jobs_id_seq TO app_writer"},
	'the bridge role lets the application insert');
is($node->safe_psql('postgres', q{SELECT string_agg(rolname || ':' || rolsuper::int || rolreplication::int, ',' ORDER BY rolname)
	FROM pg_roles WHERE rolname IN ('admin', 'wal2queue_bridge', 'app_writer')}),
	'admin:00,app_writer:00,wal2queue_bridge:01', 'no role is a superuser; the bridge role is REPLICATION');

# 5. send(): the administrator lets the bridge's role read the key that
# signs send()'s messages; PUBLIC keeps EXECUTE on pg_logical_emit_message()
# as on a managed service (test/t/445: forged messages make no job)
sh_ok(q{psql -d "host=db.example.com dbname=app user=admin" -c "GRANT SELECT ON wal2queue.message_key TO wal2queue_bridge"},
	'the administrator lets the bridge role read the key of send()');
is($node->safe_psql('app', q{SELECT bool_and(has_function_privilege('public', p.oid, 'EXECUTE'))
	FROM pg_proc p WHERE proname = 'pg_logical_emit_message'}), 't',
	'PUBLIC still may execute pg_logical_emit_message(), as on a managed service');

# 6. the bridges
my $redis_cmd = q{PGPASSWORD=secret wal2queue-bridge -d "host=db.example.com dbname=app user=wal2queue_bridge" \
    --plugin=pgoutput --publication=wal2queue_jobs --slot jobs --create-slot \
    --tables public.jobs --route-column queue --target-prefix jobs: \
    --redis-group workers --sink redis://localhost:6379};
my $kafka_cmd = q{PGPASSWORD=secret wal2queue-bridge -d "host=db.example.com dbname=app user=wal2queue_bridge" \
    --plugin=pgoutput --publication=wal2queue_jobs --slot jobs_kafka --create-slot \
    --tables public.jobs --route-column queue --sink kafka://broker1:9092};
my $rb = start_readme_bridge($redis_cmd, 'redis');
ok(wait_until(sub { bridge_log($rb) =~ /streaming slot "jobs"/ }, 60), 'the Redis bridge streams')
  or diag(bridge_log($rb));
my $kb = start_readme_bridge($kafka_cmd, 'kafka');
ok(wait_until(sub { bridge_log($kb) =~ /streaming slot "jobs_kafka"/ }, 60), 'the Kafka bridge streams')
  or diag(bridge_log($kb));
readme(q{CREATE PUBLICATION wal2queue_jobs FOR TABLE public.jobs WITH (publish = 'insert', publish_via_partition_root = true)});
is($node->safe_psql('app', q{SELECT pubowner::regrole || ' ' || pubinsert::int || pubupdate::int || pubdelete::int || pubtruncate::int || pubviaroot::int
	|| ' ' || (SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables t WHERE t.pubname = p.pubname)
	FROM pg_publication p WHERE pubname = 'wal2queue_jobs'}),
	'wal2queue_bridge 10001 public.jobs', 'the first --create-slot created the publication the README shows');
is($node->safe_psql('app', q{SELECT string_agg(slot_name || ':' || plugin, ',' ORDER BY slot_name) FROM pg_replication_slots}),
	'jobs:pgoutput,jobs_kafka:pgoutput', 'two pgoutput slots');
is($node->safe_psql('app', q{SELECT string_agg(slot_name || ':' || publication, ',' ORDER BY slot_name) FROM wal2queue.slots}),
	'jobs:wal2queue_jobs,jobs_kafka:wal2queue_jobs', 'both registered with the standalone script, with their publication');

# 7. jobs: the README's two, read back as the README reads them
my $insert = q{PGPASSWORD=secret2 psql -d "host=db.example.com dbname=app user=app_writer" -c "INSERT INTO jobs (queue, payload) VALUES ('emails', '{\"to\": \"a@b.c\"}')"};
my $send = q{PGPASSWORD=secret2 psql -d "host=db.example.com dbname=app user=app_writer" -c "SELECT wal2queue.send('emails', '{\"to\": \"d@e.f\"}')"};
sh_ok($insert, 'the application inserts a job');
sh_ok($send, 'the application sends a job');
ok(wait_until(sub { redis($r, 'XLEN', 'jobs:emails') eq '2' }, 60), 'both jobs are in stream jobs:emails')
  or diag(bridge_log($rb));
($o, $e) = sh_ok(q{redis-cli XREADGROUP GROUP workers w1 COUNT 10 STREAMS jobs:emails '>'}, 'a worker reads them');
like($o, qr/a\@b\.c.*d\@e\.f/s, 'the row and the send() payload, through group workers');

sub topic
{
	my ($rc, $out, $err) = sh(q{kcat -b broker1:9092 -C -t emails -J -o beginning -e});
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}
ok(wait_until(sub { @{ topic() } == 2 }, 60), 'both jobs are in topic emails') or diag(bridge_log($kb));
my @two = sort { $a->{payload} cmp $b->{payload} } @{ topic() };
like($two[0]{payload}, qr/"to"\s*:\s*"a\@b\.c"/, 'the row as JSON');
is($two[1]{payload}, '{"to": "d@e.f"}', 'the send() payload');
like(bridge_log($rb), qr/the event trigger wal2queue_schema_rename is not installed .*hint: a superuser .*must create it: CREATE EXTENSION wal2queue, or the CREATE EVENT TRIGGER statement wal2queue-standalone\.sql printed/,
	'the missing event trigger: a warning that says who must create it, and how');
unlike(bridge_log($rb) . bridge_log($kb), qr/ignoring wal2queue logical messages/,
	'no message was ignored: send()\'s are signed');

# more of the same while the bridges are stopped, then kill -9 each one
# mid-stream and start it again with the same command, and restart
# PostgreSQL: every job exactly once
is(stop_bridge($rb) >> 8, 0, 'the Redis bridge stops on SIGTERM');
is(stop_bridge($kb) >> 8, 0, 'the Kafka bridge stops on SIGTERM');
my ($total, $rows, $end, $batches) = (2, 1, undef, 0);
# the application writes 1000 transactions of 49 rows and a send()
sub write_backlog
{
	my $base = 1_000_000 * $batches++;
	my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('app') . ' user=app_writer', '-c', qq{
		DO \$\$ BEGIN
		  FOR t IN 1..1000 LOOP
		    INSERT INTO jobs (queue, payload) SELECT 'emails', jsonb_build_object('n', $base + t * 100 + g) FROM generate_series(1, 49) g;
		    PERFORM wal2queue.send('emails', jsonb_build_object('n', $base + t * 100 + 50));
		    COMMIT;
		  END LOOP;
		END \$\$}]);
	unlike($err // '', qr/ERROR/, "the application writes 1000 transactions of 49 rows and a send() (batch $batches)")
	  or diag($err);
	$total += 1000 * 50;
	$rows += 1000 * 49;
	$end = $node->safe_psql('app', 'SELECT pg_current_wal_lsn()');
}
write_backlog();
sub confirmed
{
	my ($slot) = @_;
	return $node->safe_psql('app', "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}
# start the bridge, kill -9 it once the slot moved (up to 3 times, until
# once with part of the backlog not yet confirmed), start it again.  The
# slot is watched through one session, every 5 ms (a psql per look took
# long enough for the bridge to drain the backlog first); a round whose
# kill landed after the end writes another backlog before the next one
sub kill9_mid_stream
{
	my ($cmd, $slot, $name) = @_;
	my $mid = 0;
	my $watch = $node->background_psql('app');
	for my $round (1 .. 3)
	{
		write_backlog() if $round > 1;
		my $before = confirmed($slot);
		my $b = start_readme_bridge($cmd, $name);
		my $deadline = time() + 60;
		while (time() < $deadline)
		{
			last if $watch->query_safe("SELECT confirmed_flush_lsn > '$before' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't';
			usleep(5_000);
		}
		$b->{h}->signal('KILL');
		$b->{h}->finish;
		$mid = $node->safe_psql('app', "SELECT '" . confirmed($slot) . "'::pg_lsn < '$end'") eq 't';
		last if $mid;
	}
	$watch->quit;
	# (the sanitized bridge can drain the backlog before the slot's first
	# move is seen, three times: the kill then lands after the end, and the
	# checks below still hold; make check's plain run requires the middle)
	ok($mid || $ENV{W2Q_SANITIZE}, "$name: killed with kill -9 mid-stream")
	  or diag('the slot was confirmed to the end before each kill');
	return start_readme_bridge($cmd, $name);
}
$rb = kill9_mid_stream($redis_cmd, 'jobs', 'redis');
$kb = kill9_mid_stream($kafka_cmd, 'jobs_kafka', 'kafka');
$node->restart;
for my $slot ('jobs', 'jobs_kafka')
{
	ok(wait_until(sub { $node->safe_psql('app', "SELECT '" . confirmed($slot) . "'::pg_lsn >= '$end'") eq 't' }, 180),
		"$slot: everything delivered and confirmed after kill -9 and a PostgreSQL restart");
}

sub once
{
	my ($what, @payloads) = @_;
	my %seen;
	for my $p (@payloads)
	{
		my $v = decode_json($p);
		$seen{ $v->{payload}{n} // $v->{n} // $v->{payload}{to} // $v->{to} }++;
	}
	is(scalar(@payloads), $total, "$what: as many jobs as were written ($total)");
	is(scalar(keys %seen), $total, "$what: each exactly once");
}
once('Redis', map { $_->[1]{payload} // '{}' } @{ stream_entries($r, 'jobs:emails') });
once('Kafka', map { $_->{payload} } @{ topic() });

# pruning, by the table's owner: every row was delivered by both slots
my $pruned = 0;
ok(wait_until(sub {
	my ($rc2, $o2) = sh(q{PGPASSWORD=secret psql -d "host=db.example.com dbname=app user=wal2queue_bridge" -c "SELECT wal2queue.prune('public.jobs')"});
	$pruned += $1 if $o2 =~ /^\s*(\d+)\s*$/m;
	$pruned == $rows }, 90), "prune() deletes the delivered rows ($pruned)");

is(stop_bridge($rb) >> 8, 0, 'SIGTERM: the Redis bridge exits 0');
is(stop_bridge($kb) >> 8, 0, 'SIGTERM: the Kafka bridge exits 0');
stop_kafka_mock($kafka);
stop_redis($r);
$node->stop;
done_testing();
