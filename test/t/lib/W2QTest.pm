# W2QTest.pm -- helpers for wal2queue's integration tests: a PostgreSQL node
# ready for wal2queue, a throwaway redis-server, the bridge as a child
# process, and polling.  Every server runs on loopback on a free port in a
# temporary directory and is stopped by the test (or at exit).
package W2QTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QProxy;

our @EXPORT = qw(new_node start_redis stop_redis redis redis_json start_bridge
  stop_bridge sigterm_bridge bridge_log wait_until free_port stream_entries slot_confirmed
  bridge_path run_bridge wait_attested restrict_messages start_kafka_mock
  kafka_mock_cmd stop_kafka_mock);

my @children;

sub free_port
{
	my $s = IO::Socket::INET->new(
		Listen => 1,
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		ReuseAddr => 1) or die "no free port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

sub bridge_path { return $ENV{W2Q_BRIDGE} }

# a node with wal_level=logical and wal2queue allow-listed
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my $libs = $opts{no_allow_list} ? "'pgoutput, test_decoding'"
	  : "'pgoutput, test_decoding, wal2queue'";
	$node->append_conf('postgresql.conf', "output_plugin_libraries = $libs\n"
		  . "max_replication_slots = 10\nmax_wal_senders = 10\n"
		  . ($opts{conf} // ''));
	$node->start;
	return $node;
}

# what CREATE EXTENSION wal2queue does for messages: without it the plugin
# ignores wal2queue messages, which any role could emit (plugin/FORMAT.md)
sub restrict_messages
{
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres', q{
		REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
			pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC});
}

sub start_redis
{
	my (%opts) = @_;
	my $port = $opts{port} // free_port();
	my $dir = $opts{dir} // tempdir(CLEANUP => 1);
	my @cmd = ('redis-server', '--port', $port, '--bind', '127.0.0.1',
		'--save', '', '--appendonly', 'no', '--dir', $dir,
		@{ $opts{args} // [] });
	my $h = IPC::Run::start(\@cmd, '>', "$dir/redis.log", '2>&1');
	my $r = { port => $port, dir => $dir, h => $h };
	push @children, $h;
	wait_until(sub { (redis($r, 'PING') // '') eq 'PONG' }, 10)
	  or die "redis-server did not start on port $port";
	return $r;
}

sub stop_redis
{
	my ($r, $signal) = @_;
	$r->{h}->signal($signal // 'TERM');
	$r->{h}->finish;
}

# one redis-cli call, raw output, trailing newline removed
sub redis
{
	my ($r, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'redis-cli', '-p', $r->{port}, '--raw', @args ],
		'>', \$out, '2>', \$err);
	chomp $out;
	return $out;
}

sub redis_json
{
	my ($r, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'redis-cli', '-2', '-p', $r->{port}, '--json', @args ],
		'>', \$out, '2>', \$err);
	return undef if $out eq '';
	return JSON::PP->new->allow_nonref->decode($out);
}

# every entry of a stream as [id, {field => value}]
sub stream_entries
{
	my ($r, $key) = @_;
	my $x = redis_json($r, 'XRANGE', $key, '-', '+') // [];
	return [ map { [ $_->[0], { @{ $_->[1] } } ] } @$x ];
}

# run the bridge in the background; output goes to a log file
sub start_bridge
{
	my ($node, $r, @args) = @_;
	my $log = $PostgreSQL::Test::Utils::tmp_check . "/bridge_" . time() . "_$$.log";
	# a -d or --sink among the arguments replaces the default one (the
	# bridge refuses an option given twice)
	my $own_d = grep { $_ eq '-d' || $_ eq '--dbname' || /^--dbname=/ } @args;
	my $own_sink = grep { $_ eq '--sink' || /^--sink=/ } @args;
	my @cmd = (bridge_path(), ($own_d ? () : ('-d', $node->connstr('postgres'))),
		($r && !$own_sink ? ('--sink', "redis://127.0.0.1:$r->{port}") : ()), '-v', @args);
	my $h = IPC::Run::start(\@cmd, '>', $log, '2>&1');
	push @children, $h;
	return { h => $h, log => $log };
}

sub stop_bridge
{
	my ($b, $signal) = @_;
	$b->{h}->signal($signal // 'TERM');
	$b->{h}->finish;
	return $b->{h}->full_result(0);
}

# SIGTERM to the bridge, then wait up to $wait s (default 20) for it to end:
# (gone, seconds it took); a bridge not gone is left running (kill_kill it)
sub sigterm_bridge
{
	my ($b, $wait) = @_;
	my $t0 = time();
	$b->{h}->signal('TERM');
	my $gone = wait_until(sub { !$b->{h}->pumpable }, $wait // 20);
	return ($gone, time() - $t0);
}

sub bridge_log
{
	my ($b) = @_;
	return -f $b->{log} ? slurp_file($b->{log}) : '';
}

# run the bridge to completion: (exit status, output)
sub run_bridge
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ bridge_path(), @args ], '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	$h->finish;
	return ($h->full_result(0) >> 8, $out . $err);
}

sub wait_until
{
	my ($cb, $timeout) = @_;
	my $deadline = time() + ($timeout // 60);
	while (time() < $deadline)
	{
		return 1 if $cb->();
		usleep(100_000);
	}
	return 0;
}

sub slot_confirmed
{
	my ($node, $slot) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}

# wait until a bridge attested slot $slot (wal2queue.attest_slot()) at or
# past the position it has confirmed now: prune() counts that far
sub wait_attested
{
	my ($node, $slot, $timeout) = @_;
	my $at = slot_confirmed($node, $slot);
	return wait_until(sub { $node->safe_psql('postgres',
		"SELECT attested_lsn >= '$at' FROM wal2queue.slots WHERE slot_name = '$slot'") eq 't' },
		$timeout);
}

# librdkafka's mock cluster (test/helpers/kafka-mock) with $brokers brokers
# (1 unless given), driven over its stdin; returns { h, bootstrap, ... }
sub start_kafka_mock
{
	my ($brokers) = @_;
	my $root = $ENV{W2Q_ROOT};
	my $k = { in => '', out => '', err => '' };
	$k->{h} = IPC::Run::start([ "$root/test/helpers/kafka-mock", $brokers // '1' ],
		\$k->{in}, \$k->{out}, \$k->{err});
	$k->{h}->pump until $k->{out} =~ /\n/;
	($k->{bootstrap}) = $k->{out} =~ /^(\S+)/;
	return $k;
}

# one command to the mock cluster; true if it answered ok
sub kafka_mock_cmd
{
	my ($k, $cmd) = @_;
	$k->{out} = '';
	$k->{in} .= "$cmd\n";
	$k->{h}->pump until $k->{out} =~ /\n/;
	return $k->{out} =~ /^ok/;
}

# ask the mock cluster to quit and wait for it
sub stop_kafka_mock
{
	my ($k) = @_;
	$k->{in} .= "quit\n";
	$k->{h}->finish;
}

# ---- restore tests (test/t/204, 206, 250-252, 257) ----
push @EXPORT, qw(start_streaming_bridge while_stopped cold_copy restore_cold_copy);

# start_bridge(), then wait (at most 30 s, not checked) until it logs
# "streaming slot"; returns the bridge
sub start_streaming_bridge
{
	my ($node, $r, @args) = @_;
	my $b = start_bridge($node, $r, @args);
	wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
	return $b;
}

# stop the server, run shell command $cmd with %D replaced by its data
# directory, start it again; dies naming $what if the command fails
sub while_stopped
{
	my ($node, $cmd, $what) = @_;
	$node->stop('fast');
	my $data = $node->data_dir;
	$cmd =~ s/%D/$data/g;
	system($cmd) == 0 or die "$what failed";
	$node->start;
}

# a cold file-level copy of the server (slots included) in <data_dir>.snap
sub cold_copy
{
	my ($node) = @_;
	while_stopped($node, 'cp -a %D %D.snap', 'copy');
}

# roll the server back to its cold_copy()
sub restore_cold_copy
{
	my ($node) = @_;
	while_stopped($node, 'rm -rf %D && mv %D.snap %D', 'swap');
}

# ---- prune tests (test/t/270-277, 253, 340-342) ----
#
# The prune tests share one shape: rows are written that no slot delivered
# (or delivered only as a claim check), a bridge streams a control job, and
# prune() is called until it deleted what it may, then the test counts what
# is left.  $run, where a helper takes one, is the SQL runner of the job
# table's user: a sub taking SQL and returning psql's unaligned output (the
# default is the superuser in database postgres).
push @EXPORT, qw(jobs_before_slot prune_until prune_until_gone prune_keeps_undelivered
  bridge_delivers_new_job delivers_new_job start_registered_bridge
  delivers_big_and_small new_managed_node psql_as start_managed_bridge);

# the extension, job table public.jobs and 10 jobs ({"n": 1..10}) inserted
# BEFORE slot "s" (wal2queue.create_slot) exists: rows no slot delivered
sub jobs_before_slot
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION wal2queue;
		SELECT wal2queue.create_job_table('public.jobs');
		INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
		SELECT wal2queue.create_slot('s', 'public.jobs');
	});
}

# CHECKPOINT, wait a second, prune(): until $want rows are deleted or
# `tries` rounds (8) are done; returns how many were deleted.  Options:
# table ('public.jobs'), tries, db (where CHECKPOINT runs, 'postgres'), run
# (the SQL runner that calls prune), lenient (a prune that fails counts 0
# instead of dying, for a test that expects prune to refuse the table)
sub prune_until
{
	my ($node, $want, %opts) = @_;
	my $db = $opts{db} // 'postgres';
	my $run = $opts{run} // sub { $node->safe_psql($db, $_[0]) };
	my $sql = "SELECT wal2queue.prune('" . ($opts{table} // 'public.jobs') . "')";
	my $deleted = 0;
	for (1 .. ($opts{tries} // 8))
	{
		$node->safe_psql($db, 'CHECKPOINT');
		sleep 1;
		if ($opts{lenient})
		{
			my ($rc, $o, $e) = $node->psql($db, $sql);
			$deleted += $o if $o =~ /^\d+$/;
		}
		else
		{
			$deleted += $run->($sql);
		}
		last if $deleted >= $want;
	}
	return $deleted;
}

# CHECKPOINT, wait a second, wait until slot `jobs` is attested, prune
# public.jobs: until no row of jobs matches $where (SQL), or $tries rounds
# (8) are done; returns how many rows were deleted
sub prune_until_gone
{
	my ($node, $where, $tries) = @_;
	my $deleted = 0;
	for (1 .. ($tries // 8))
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		wait_attested($node, 'jobs', 10);
		$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')");
		last if $node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE $where") eq '0';
	}
	return $deleted;
}

# prune_until() the 10 rows of jobs_before_slot() (or new_managed_node())
# could be deleted, then check they are all still there; same options
sub prune_keeps_undelivered
{
	my ($node, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $db = $opts{db} // 'postgres';
	my $run = $opts{run} // sub { $node->safe_psql($db, $_[0]) };
	my $deleted = prune_until($node, 10, %opts);
	note("prune deleted $deleted rows");
	is($run->(q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '10',
		'prune keeps the 10 jobs no slot delivered');
}

# insert one job {"new": true} into public.jobs (through `run`) and check
# that bridge $b delivers it as the only entry of stream public.jobs and
# then attests its slot: wait_attested() of `slot` ('s'), or with `run` (a
# role that cannot read pg_replication_slots) any attested slot
sub delivers_new_job
{
	my ($node, $r, $b, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $run = $opts{run} // sub { $node->safe_psql('postgres', $_[0]) };
	$run->(q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}')});
	ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers the new job only')
	  or diag(bridge_log($b));
	if ($opts{run})
	{
		ok(wait_until(sub { $run->(q{SELECT attested_lsn IS NOT NULL FROM wal2queue.slots}) eq 't' }),
			'the bridge attested its slot');
	}
	else
	{
		ok(wait_attested($node, $opts{slot} // 's'), 'the bridge attested its slot');
	}
}

# a bridge on slot "s" of public.jobs (--accept-new-source: the sink is
# empty), then delivers_new_job(); returns the bridge
sub bridge_delivers_new_job
{
	my ($node, $r) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $b = start_bridge($node, $r, '--slot', 's', '--tables', 'public.jobs',
		'--status-interval', '1', '--accept-new-source');
	delivers_new_job($node, $r, $b);
	return $b;
}

# start a bridge that creates slot `slot` (--create-slot, --status-interval
# 1, then `args`) and check within 30 s that it registered the slot in
# wal2queue.slots (test name `name`); returns the bridge
sub start_registered_bridge
{
	my ($node, $r, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $slot = $opts{slot};
	my $b = start_bridge($node, $r, '--slot', $slot, '--create-slot', @{ $opts{args} },
		'--status-interval', '1');
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT count(*) FROM wal2queue.slots WHERE slot_name = '$slot'") eq '1' }, 30),
		$opts{name} // 'the bridge registered its slot') or diag(bridge_log($b));
	return $b;
}

# insert a 9000-byte job routed to "big" and a small one routed to "small"
# (bridge $b runs with --route-column queue and a --max-job-bytes below
# 9000), check both are delivered and the big one as a claim check
sub delivers_big_and_small
{
	my ($node, $r, $b) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$node->safe_psql('postgres', q{
		INSERT INTO jobs (queue, payload) VALUES ('big', jsonb_build_object('blob', repeat('x', 9000)))});
	$node->safe_psql('postgres', q{
		INSERT INTO jobs (queue, payload) VALUES ('small', '{"n": 1}')});
	ok(wait_until(sub { redis($r, 'XLEN', 'big') eq '1' && redis($r, 'XLEN', 'small') eq '1' }, 30),
		'both delivered') or diag(bridge_log($b));
	my $e = stream_entries($r, 'big')->[0][1];
	is($e->{wal2queue_claim_check}, 't', 'the big one is a claim check: its content is only in the table')
	  or diag(explain $e);
}

# one psql -c as role $user in database app of a new_managed_node(): its
# unaligned output, chomped; dies on an ERROR
sub psql_as
{
	my ($node, $user, $sql) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . " user=$user", '-c', $sql ]);
	die "as $user: $err" if $err =~ /ERROR/;
	chomp $out;
	return $out;
}

# a server as a managed service has it: wal2queue not allow-listed, the
# standalone script (sql/make-standalone.sh) installed into database app by
# role admin (CREATEROLE, no superuser: no event triggers, which is
# checked), role bridge (REPLICATION) owning job table public.jobs
# (`bridge_sql`, if given, runs as bridge after creating it), and 10 jobs
# ({"n": 1..10}) inserted by admin before any slot exists
sub new_managed_node
{
	my ($name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
	my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
	run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
	my $node = new_node($name, no_allow_list => 1);
	$node->safe_psql('postgres', q{
		CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
		CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
		CREATE DATABASE app OWNER admin;
	});
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
	like($e, qr/could not create the event triggers of wal2queue/, 'installed without the event triggers');
	psql_as($node, 'admin', q{GRANT USAGE ON SCHEMA wal2queue TO bridge; GRANT CREATE ON DATABASE app TO bridge;
		GRANT CREATE ON SCHEMA public TO bridge});
	psql_as($node, 'bridge', q{SELECT wal2queue.create_job_table('public.jobs'); GRANT ALL ON jobs, jobs_id_seq TO admin;}
		  . ($opts{bridge_sql} // ''));
	psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g});
	return $node;
}

# the bridge of a new_managed_node(): role bridge, pgoutput, publication
# jobs_pub, --create-slot jobs; checks that it registers its slot
sub start_managed_bridge
{
	my ($node, $r) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $b = start_bridge($node, $r, '-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
		'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
		'--status-interval', '1');
	ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs"/ }), 'the bridge registers its slot')
	  or diag(bridge_log($b));
	return $b;
}

# ---- a TCP proxy that can go silent: W2QProxy.pm (495, 496, 505, 545, 548, 549) ----
push @EXPORT, qw(start_blackhole_proxy stop_blackhole_proxy);

# ---- signed send() tests (test/t/452-459) ----
#
# A new_managed_node() with a writer role app_writer (member of
# wal2queue_sender), the bridge's role allowed to read the keys, and Redis;
# $extra_sql runs as admin too.  Returns { node, r, args (the managed
# bridge's, pgoutput into Redis), as_role(role, sql...) -> stderr,
# send_job(n) -> stderr of send('emails', {"n": n}), caught_up() -> a row
# inserted into jobs is delivered (everything before it was decoded),
# payloads() -> the payloads of stream "emails", comma-separated }.
push @EXPORT, qw(signed_send_fixture);

sub signed_send_fixture
{
	my ($name, $extra_sql) = @_;
	my $node = new_managed_node($name);
	my $r = start_redis();
	my $f = { node => $node, r => $r, rows => 0 };

	psql_as($node, 'admin', q{
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
	GRANT SELECT ON wal2queue.message_key TO bridge;
} . ($extra_sql // ''));
	$f->{args} = [ '-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
		'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
		'--status-interval', '1' ];
	$f->{as_role} = sub {
		my ($role, @sql) = @_;
		my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
			$node->connstr('app') . " user=$role", map { ('-c', $_) } @sql ]);
		return $err // '';
	};
	$f->{send_job} = sub {
		return $f->{as_role}->('app_writer', "SELECT wal2queue.send('emails', '{\"n\": $_[0]}')");
	};
	$f->{caught_up} = sub {
		my $n = ++$f->{rows};
		psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $n}')");
		return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$n" });
	};
	$f->{payloads} = sub {
		return join(',', map { $_->[1]{payload} } @{ stream_entries($r, 'emails') });
	};
	return $f;
}

# ---- backfill resume tests (test/t/280-289) ----
#
# A backfill is stopped after its first page by a row routed into a Redis
# key of the wrong type (a string): the bridge exits with WRONGTYPE, the
# progress record holds page 1; the test changes the table, resumes and
# counts what each key received.
push @EXPORT, qw(backfill_jobs_table backfill_cmd backfill_stops_on
  backfill_first_page backfill_resume backfill_done wait_backfill_done
  field_counts missing_ids);

# table public.jobs (id int PRIMARY KEY, queue text) with rows 1..$rows
# (9 unless given) routed to queue "q", but row 4 to "bad"
sub backfill_jobs_table
{
	my ($node, $rows) = @_;
	$node->safe_psql('postgres', q{
		CREATE TABLE jobs (id int PRIMARY KEY, queue text);
		INSERT INTO jobs SELECT g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END FROM generate_series(1, }
		  . ($rows // 9) . q{) g;});
}

# the bridge options of a backfill of $tables into slot $slot, in pages of
# 3 rows, routed by column queue
sub backfill_cmd
{
	my ($slot, $tables) = @_;
	return ('--slot', $slot, '--create-slot', '--backfill', '--backfill-batch', '3',
		'--tables', $tables, '--route-column', 'queue', '--status-interval', '1');
}

# the first run: make Redis key $bad a string, run the bridge with @cmd,
# check (test name $name) that it exits within 30 s (the page holding the
# row routed to $bad fails with WRONGTYPE), then delete $bad again;
# returns the finished bridge
sub backfill_stops_on
{
	my ($node, $r, $bad, $name, @cmd) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	redis($r, 'SET', $bad, 'a string');
	my $br = start_bridge($node, $r, @cmd);
	ok(wait_until(sub { !$br->{h}->pumpable }, 30), $name);
	$br->{h}->finish;
	redis($r, 'DEL', $bad);
	return $br;
}

# backfill_stops_on() for slot $slot, then check that the progress record
# holds page 1 (3 rows)
sub backfill_first_page
{
	my ($node, $r, $slot, $bad, @cmd) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $br = backfill_stops_on($node, $r, $bad, "$slot: the first run stops at page 2 (WRONGTYPE)", @cmd);
	is(redis($r, 'HGET', "wal2queue:progress:$slot", 'backfill_rows'), '3', "$slot: page 1 is recorded");
	return $br;
}

# resume: run the bridge with @cmd until slot $slot's backfill is done or
# the bridge exited (30 s), a second more, stop it; returns its log
sub backfill_resume
{
	my ($node, $r, $slot, @cmd) = @_;
	my $br = start_bridge($node, $r, @cmd);
	wait_backfill_done($r, $br, $slot);
	sleep 1;
	my $log = bridge_log($br);
	stop_bridge($br);
	return $log;
}

# the backfill_done field of slot $slot's progress record ('' if none)
sub backfill_done
{
	my ($r, $slot) = @_;
	return redis($r, 'HGET', "wal2queue:progress:$slot", 'backfill_done');
}

# wait (30 s unless given) until slot $slot's backfill is done or bridge
# $br exited; true if it is done
sub wait_backfill_done
{
	my ($r, $br, $slot, $timeout) = @_;
	return wait_until(sub { backfill_done($r, $slot) eq '1' || !$br->{h}->pumpable }, $timeout // 30)
	  && backfill_done($r, $slot) eq '1';
}

# how many entries of the streams @keys carry each value of field $field:
# { value => count }
sub field_counts
{
	my ($r, $field, @keys) = @_;
	my %seen;
	$seen{ $_->[1]{$field} }++ for map { @{ stream_entries($r, $_) } } @keys;
	return \%seen;
}

# the ids of @$ids that no entry of the streams @keys carries
sub missing_ids
{
	my ($r, $ids, @keys) = @_;
	my $seen = field_counts($r, 'id', @keys);
	return grep { !$seen->{$_} } @$ids;
}

# ---- claim-check and partition tests (test/t/343, 360, 374, 380, 382-384) ----
#
# A job table, a bridge on slot "jobs" routed by column queue, rows written
# and delivered (some as claim checks), the slot attested, then prune() or
# maintain_partitions() and a count of what is left.
push @EXPORT, qw(append_only_jobs partitioned_jobs_old start_jobs_bridge delivered_once
  is_claim_check attest_rounds last_guard_event in_repeatable_read refuses_repeatable_read);

# CREATE EXTENSION wal2queue, then $before (SQL: the types, schemas or roles
# the table uses; may be empty), then table public.jobs (id bigserial
# PRIMARY KEY, queue text NOT NULL, $columns) under append_only()
sub append_only_jobs
{
	my ($node, $columns, $before) = @_;
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION wal2queue;
		@{[ $before // '' ]}
		CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, $columns);
		SELECT wal2queue.append_only('public.jobs');
	});
}

# CREATE EXTENSION wal2queue and a partitioned job table public.jobs
# (create_job_table) with partition jobs_old holding day $year-01-01 (UTC)
sub partitioned_jobs_old
{
	my ($node, $year) = @_;
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION wal2queue;
		SELECT wal2queue.create_job_table('public.jobs', true);
		CREATE TABLE jobs_old PARTITION OF jobs
		  FOR VALUES FROM ('$year-01-01 00:00+00') TO ('$year-01-02 00:00+00');
	});
}

# start_registered_bridge() of slot "jobs" on public.jobs routed by column
# queue, with more bridge options @args (e.g. --max-job-bytes); returns it
sub start_jobs_bridge
{
	my ($node, $r, @args) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return start_registered_bridge($node, $r, slot => 'jobs',
		args => [ '--tables', 'public.jobs', '--route-column', 'queue', @args ]);
}

# check (test name $name) that within $timeout seconds (30 unless given)
# each Redis stream of @$queues holds one entry; the bridge log if not
sub delivered_once
{
	my ($r, $b, $queues, $name, $timeout) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok(wait_until(sub { !grep { (redis($r, 'XLEN', $_) // '') ne '1' } @$queues }, $timeout // 30), $name)
	  or diag(bridge_log($b));
}

# check (test name $name) that the first entry of stream $queue is a claim
# check (its content is only in the table)
sub is_claim_check
{
	my ($r, $queue, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(stream_entries($r, $queue)->[0][1]{wal2queue_claim_check}, 't', $name);
}

# $rounds times: CHECKPOINT, a second, wait until slot "jobs" is attested
# (so that prune() and maintain_partitions() count what it delivered)
sub attest_rounds
{
	my ($node, $rounds) = @_;
	for (1 .. $rounds)
	{
		$node->safe_psql('postgres', 'CHECKPOINT');
		sleep 1;
		wait_attested($node, 'jobs', 10);
	}
}

# the event of the guard state last recorded for public.jobs
# (wal2queue.guard_events: 'ALTER TABLE', 'ALTER TYPE', ...)
sub last_guard_event
{
	my ($node) = @_;
	return $node->safe_psql('postgres', "SELECT event FROM wal2queue.guard_events "
		. "WHERE relid = 'jobs'::regclass ORDER BY seq DESC LIMIT 1");
}

# a session that begins a REPEATABLE READ transaction (READ COMMITTED with
# W2Q_ATTACK_CONTROL=1) and takes its snapshot (SELECT 1); then $meanwhile
# runs (other sessions' changes), then the session runs $sql and commits;
# returns ($sql's output, the session's stderr)
sub in_repeatable_read
{
	my ($node, $meanwhile, $sql) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe($ENV{W2Q_ATTACK_CONTROL} ? 'BEGIN' : 'BEGIN ISOLATION LEVEL REPEATABLE READ');
	$s->query_safe('SELECT 1');
	$meanwhile->();
	my ($out) = $s->query($sql);
	my $err = $s->{stderr};
	$s->query('COMMIT');
	$s->quit;
	return ($out, $err);
}

# check that wal2queue.$function() refused REPEATABLE READ (stderr $err of
# in_repeatable_read()), naming the level and READ COMMITTED; with
# W2Q_ATTACK_CONTROL=1 that it ran without error
sub refuses_repeatable_read
{
	my ($err, $function) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	if ($ENV{W2Q_ATTACK_CONTROL})
	{
		is($err, '', "$function() runs in READ COMMITTED");
		return;
	}
	like($err, qr/wal2queue\.\Q$function\E: cannot run in a REPEATABLE READ transaction/,
		"$function() refuses REPEATABLE READ, naming the isolation level");
	like($err, qr/READ COMMITTED/, 'the hint names the fix');
}

# ---- Kafka backfill tests (test/t/390, 393-396) ----
push @EXPORT, qw(kafka_backfill_servers kafka_backfill_cmd kafka_messages kafka_key_counts
  start_paused_bridge each_pending_once);

# librdkafka's mock cluster (one broker) and node $name with table
# public.jobs (id bigint PRIMARY KEY, status text NOT NULL) holding rows
# 1..$rows, status $status (SQL of the row number g; 'pending' unless
# given); returns ($mock, $node)
sub kafka_backfill_servers
{
	my ($name, $rows, $status) = @_;
	my $k = start_kafka_mock(1);
	my $node = new_node($name);
	$node->safe_psql('postgres', qq{
		CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
		INSERT INTO jobs SELECT g, @{[ $status // q{'pending'} ]} FROM generate_series(1, $rows) g;
	});
	return ($k, $node);
}

# the bridge options of a backfill of public.jobs into Kafka at bootstrap
# $bs through slot $slot, in pages of 40 rows, into topics prefixed
# "$slot.", then @more (e.g. the --backfill condition)
sub kafka_backfill_cmd
{
	my ($bs, $slot, @more) = @_;
	return ('--slot', $slot, '--create-slot', '--backfill-batch=40', '--tables', 'public.jobs',
		'--target-prefix', "$slot.", '--sink', "kafka://$bs", @more);
}

# every message of Kafka topic $topic at bootstrap $bs (kcat, more options
# @opts): [key, partition, headers, value]
sub kafka_messages
{
	my ($bs, $topic, @opts) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', $topic, '-o', 'beginning', '-e', '-q', @opts,
			'-f', '%k\t%p\t%h\t%s\n--end--\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return map { [ split /\t/, $_, 4 ] } grep { /\S/ } split /\n--end--\n/, $out;
}

# wait (30 s) until Kafka topic $topic holds a message of key $last; then
# how many messages it holds of each key: { key => count }
sub kafka_key_counts
{
	my ($bs, $topic, $last) = @_;
	my %seen;
	wait_until(sub { grep { $_->[0] eq $last } kafka_messages($bs, $topic) }, 30);
	$seen{ $_->[0] }++ for kafka_messages($bs, $topic);
	return \%seen;
}

# start_bridge() (no Redis) with @cmd, paused by the test hook
# (bridge/backfill_testhook.c) at moment $at, for $seconds (the hook's
# default when undef)
sub start_paused_bridge
{
	my ($node, $at, $seconds, @cmd) = @_;
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = $at;
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = $seconds;
	delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} unless defined $seconds;
	return start_bridge($node, undef, @cmd);
}

# check (test name $name, followed by the counts) that the keys of
# messages @$msgs (kafka_messages()) are the ids of the rows of public.jobs
# with status 'pending', each once: none missing, twice or extra
sub each_pending_once
{
	my ($node, $msgs, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my %want = map { $_ => 1 } split /\n/,
	  $node->safe_psql('postgres', "SELECT id FROM jobs WHERE status = 'pending'");
	my (%seen, @dup, @extra);
	for my $m (@$msgs)
	{
		push @dup, $m->[0] if $seen{ $m->[0] }++ == 1;
		push @extra, $m->[0] unless $want{ $m->[0] };
	}
	my @missing = grep { !$seen{$_} } sort { $a <=> $b } keys %want;
	return ok(!@missing && !@dup && !@extra,
		"$name (" . keys(%seen) . ' keys of ' . keys(%want) . ')')
	  || diag(scalar(@missing) . " missing (@missing[0 .. 9]); " . scalar(@dup)
		  . " twice (@dup[0 .. 9]); " . scalar(@extra) . " extra (@extra[0 .. 9])");
}

# ---- what is left after prune(), detach-pending partitions, text-bound
# decoding (test/t/217, 340-345, 360, 362, 366, 367, 375, 380, 383) ----
push @EXPORT, qw(whole_pruned_claim_check_kept claim_check_kept detach_left_pending
  peek_finds_next_job);

# after prune(): check that no row of $table matching $whole (SQL: the
# small row, delivered whole) is left, and that the one matching $cc (the
# row behind a claim check) still is
sub whole_pruned_claim_check_kept
{
	my ($node, $table, $whole, $cc) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($node->safe_psql('postgres', "SELECT count(*) FROM $table WHERE $whole"), '0',
		'the small row, delivered whole, is pruned (the control)');
	is($node->safe_psql('postgres', "SELECT count(*) FROM $table WHERE $cc"), '1',
		'the row behind the claim check is still there for its worker');
}

# check that the row of public.jobs routed to $queue is still there for its
# worker: "the claim-checked row whose $what is still there ..."
sub claim_check_kept
{
	my ($node, $queue, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = '$queue'"), '1',
		"the claim-checked row whose $what is still there for its worker");
}

# ALTER TABLE $table DETACH PARTITION $partition CONCURRENTLY cancelled half
# way (a snapshot taken before it holds it up past statement_timeout 1s):
# the partition is left detach-pending; checks that it timed out ($name)
sub detach_left_pending
{
	my ($node, $table, $partition, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $old = $node->background_psql('postgres');
	$old->query_safe('BEGIN; SELECT count(*) FROM jobs;');
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET statement_timeout = '1s'; ALTER TABLE $table DETACH PARTITION $partition CONCURRENTLY");
	like($stderr, qr/statement timeout/, $name);
	$old->query_safe('COMMIT');
	$old->quit;
}

# peek slot "w" (format $form: 'json' or 'binary'): check that it decodes
# without error and holds the job whose note is 'the next job' once
sub peek_finds_next_job
{
	my ($node, $form) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $sql = $form eq 'json'
	  ? q~SELECT count(*) FILTER (WHERE data LIKE '%the next job%')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')~
	  : q~SELECT count(*) FILTER (WHERE position('the next job'::bytea IN data) > 0)
	  FROM pg_logical_slot_peek_binary_changes('w', NULL, NULL, 'format', 'binary')~;
	my $name = $form eq 'json' ? 'JSON' : $form;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	is($err, '', "the $name form decodes past the row (no error)");
	is($out, '1', "the $name form delivers the next job");
}

END
{
	for my $h (@children)
	{
		eval { $h->kill_kill if $h->pumpable; };
	}
}

1;

# ---- owner-code reproductions (test/t/482, 489, 510-528) ----
#
# A table owner without superuser (role mallory, owning schema m) plants
# code that a superuser's call could run as itself.
push @EXPORT, qw(owner_code_fixture as_mallory grab_function_sql);

# psql -c $sql as role mallory (ON_ERROR_STOP unless $lenient): ($out, $err)
sub as_mallory
{
	my ($node, $sql, $lenient) = @_;
	return run_command([ 'psql', '-X', '-A', '-t', ($lenient ? () : ('-v', 'ON_ERROR_STOP=1')),
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', $sql ]);
}

# SQL text: function m.$sig RETURNS $returns that makes mallory a superuser
# when it runs as one, then RETURN $result (none for void)
sub grab_function_sql
{
	my ($sig, $returns, $result) = @_;
	my $ret = defined $result ? "RETURN $result;" : '';
	return qq{CREATE FUNCTION m.$sig RETURNS $returns LANGUAGE plpgsql AS \$f\$
	BEGIN
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		$ret
	END \$f\$;
};
}

# Creates role mallory (LOGIN) and schema m owned by it; with extension =>
# 1 also CREATE EXTENSION wal2queue and USAGE on its schema for mallory.
# With pwn => 'copy' (file => path, unlinked first), 'reset_role' or
# 'superuser', mallory creates m.pwn() (copy: writes current_user into the
# file when run as another role; reset_role: a superuser's SET ROLE mallory
# session makes mallory superuser; superuser: a superuser caller does) and
# the IMMUTABLE m.tag(int) RETURNS text '' that calls it.  Then mallory runs
# $opts{sql}.  Returns ($out, $err) of mallory's psql (('', '') if none).
sub owner_code_fixture
{
	my ($node, %opts) = @_;
	unlink $opts{file} if $opts{file};
	my $ext = $opts{extension} ? 'CREATE EXTENSION wal2queue;' : '';
	my $usage = $opts{extension} ? 'GRANT USAGE ON SCHEMA wal2queue TO mallory;' : '';
	$node->safe_psql('postgres', qq{$ext
	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
	$usage});
	my $pwn = $opts{pwn} // '';
	my %body = (
		copy => qq{IF current_user <> 'mallory' THEN
			EXECUTE format('COPY (SELECT %L) TO %L', current_user, '@{[ $opts{file} // '' ]}');
		END IF;},
		reset_role => q{IF session_user <> 'mallory' AND current_user = 'mallory' THEN
			BEGIN
				PERFORM set_config('role', 'none', true);
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
				PERFORM set_config('role', 'mallory', true);
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
		END IF;});
	my $fns = '';
	if ($pwn eq 'superuser')
	{
		$fns = grab_function_sql('pwn()', 'void');
	}
	elsif ($pwn)
	{
		die "owner_code_fixture: unknown pwn '$pwn'" unless $body{$pwn};
		$fns = qq{CREATE FUNCTION m.pwn() RETURNS void LANGUAGE plpgsql VOLATILE AS \$f\$
	BEGIN
		$body{$pwn}
	END \$f\$;
};
	}
	$fns .= q{CREATE FUNCTION m.tag(i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
	BEGIN
		PERFORM m.pwn();
		RETURN '';
	END $f$;
} if $pwn;
	my $sql = $fns . ($opts{sql} // '');
	return $sql eq '' ? ('', '') : as_mallory($node, $sql);
}

# ---- a Kafka cluster that lost its data (test/t/493, 532) ----
push @EXPORT, qw(kafka_confirmed_fixture);

# Starts a one-broker mock cluster and node $name with table public.$table
# (id int PRIMARY KEY; CREATE EXTENSION wal2queue first with extension =>
# 1), then a bridge that creates slot $slot and streams the table into the
# cluster: tests "$opts{label}streaming", inserts $opts{rows} (VALUES ... or
# SELECT ...) and tests "$opts{label}$opts{delivered}" (the slot confirmed
# past them); stops the bridge.  Returns { k, node, b, cmd } (cmd:
# --tables public.$table --status-interval 1, no slot, no sink).
sub kafka_confirmed_fixture
{
	my ($name, $slot, $table, %opts) = @_;
	my $label = $opts{label} // '';
	my $k = start_kafka_mock(1);
	my $node = new_node($name);
	$node->safe_psql('postgres', ($opts{extension} ? 'CREATE EXTENSION wal2queue; ' : '')
		  . "CREATE TABLE $table (id int PRIMARY KEY)");
	my @cmd = ('--tables', "public.$table", '--status-interval', '1');
	my $b = start_bridge($node, undef, '--slot', $slot, @cmd, '--sink', "kafka://$k->{bootstrap}",
		'--create-slot');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "$slot"/ }, 60), "${label}streaming");
	$node->safe_psql('postgres', "INSERT INTO $table $opts{rows}");
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't' }, 60),
		"$label$opts{delivered}");
	stop_bridge($b);
	return { k => $k, node => $node, b => $b, cmd => \@cmd };
}

# ---- a Redis progress record above the slot (test/t/533; 492 alike) ----
push @EXPORT, qw(record_above_slot_fixture);

# an LSN's text (X/Y) as a number (not exported: tests define their own)
sub lsn_num
{
	my ($hi, $lo) = split m{/}, shift;
	return hex($hi) * 2**32 + hex($lo);
}

# Node $name and Redis, tables ta and tb (and @{ $opts{more} }), slot nw
# (wal2queue); a bridge with --tables $opts{wide} delivers job 1 (ta),
# the slot is checkpointed after it, then job 2 (tb); an immediate restart
# of the node leaves the slot below the progress record's last transaction
# (all tested).  Returns { node, r, cmd (--slot nw --status-interval 1),
# rec (the record's txn_end), slot (its confirmed LSN) }.
sub record_above_slot_fixture
{
	my ($name, %opts) = @_;
	my $node = new_node($name);
	my $r = start_redis();
	$node->safe_psql('postgres', q{
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('nw', 'wal2queue');
});
	$node->safe_psql('postgres', "CREATE TABLE $_ (id int PRIMARY KEY)") for @{ $opts{more} // [] };
	my @cmd = ('--slot', 'nw', '--status-interval', '1');
	my $b = start_streaming_bridge($node, $r, @cmd, '--tables', $opts{wide}, '--accept-new-source');
	$node->safe_psql('postgres', 'INSERT INTO ta VALUES (1)');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '1' }, 30), 'job 1 (table ta) delivered');
	sleep 2;							# confirmed (--status-interval 1)
	$node->safe_psql('postgres', 'CHECKPOINT');	# the slot on disk: after job 1
	$node->safe_psql('postgres', 'INSERT INTO tb VALUES (2)');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.tb') eq '1' }, 30), 'job 2 (table tb) delivered');
	stop_bridge($b);
	my $rec = redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_end');
	# a crash: the slot comes back at its last checkpoint, below job 2
	$node->stop('immediate');
	$node->start;
	my $slot = slot_confirmed($node, 'nw');
	ok(lsn_num($slot) < lsn_num($rec), "the slot ($slot) restarts below the record's last transaction ($rec)");
	return { node => $node, r => $r, cmd => \@cmd, rec => $rec, slot => $slot };
}

# ---- databases in other encodings (test/t/470, 477, 500, 501, 503) ----
push @EXPORT, qw(pgoutput_db_fixture);
push @EXPORT, qw(standalone_app_fixture);

# Node $name with database $db in $encoding (C locale) holding table
# jobs (id int PRIMARY KEY, v text), Redis, and a bridge streaming it
# through pgoutput (publication p, slot $db): tests that it streams.
# Returns { node, r, b }.
sub pgoutput_db_fixture
{
	my ($name, $db, $encoding) = @_;
	my $node = new_node($name);
	$node->safe_psql('postgres',
		"CREATE DATABASE $db ENCODING '$encoding' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	$node->safe_psql($db, q{CREATE TABLE jobs (id int PRIMARY KEY, v text)});
	my $r = start_redis();
	my $b = start_bridge($node, $r, '-d', $node->connstr($db), '--plugin', 'pgoutput', '--publication', 'p',
		'--slot', $db, '--create-slot', '--tables', 'public.jobs', '--status-interval', '1');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "$db"/ }, 60),
		"the bridge streams the $encoding database")
	  or diag(bridge_log($b));
	return { node => $node, r => $r, b => $b };
}

# Node $name without wal2queue allow-listed, roles admin (CREATEROLE) and
# bridge (REPLICATION) and any $opts{roles} (SQL), database app owned by
# admin (in $opts{encoding}, C locale, if given); $opts{before}->($node)
# runs before admin installs the standalone script (tested), grants bridge
# what it needs (plus $opts{admin_sql}); bridge creates job table
# public.jobs; Redis and a pgoutput bridge (role bridge, publication
# jobs_pub, slot jobs): tests that it streams.  Returns { node, r, b }.
sub standalone_app_fixture
{
	my ($name, %opts) = @_;
	my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
	my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
	run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
	my $node = new_node($name, no_allow_list => 1);
	my $enc = $opts{encoding}
	  ? " ENCODING '$opts{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" : '';
	$node->safe_psql('postgres', qq{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
	@{[ $opts{roles} // '' ]}
	CREATE DATABASE app OWNER admin$enc;
});
	$opts{before}->($node) if $opts{before};
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
	unlike($e, qr/ERROR/, 'the standalone script installs'
		  . ($opts{encoding} ? " into the $opts{encoding} database" : '')) or diag($e);
	psql_as($node, 'admin', q{GRANT USAGE ON SCHEMA wal2queue TO bridge; GRANT CREATE ON DATABASE app TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge; GRANT SELECT ON wal2queue.message_key TO bridge;}
		  . ($opts{admin_sql} // ''));
	psql_as($node, 'bridge', q{SELECT wal2queue.create_job_table('public.jobs'); GRANT ALL ON jobs, jobs_id_seq TO admin});
	my $r = start_redis();
	my $b = start_bridge($node, $r, '-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
		'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
		'--status-interval', '1');
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
	return { node => $node, r => $r, b => $b };
}

# ---- the superuser's call on mallory's table (test/t/520-525) ----
push @EXPORT, qw(superuser_call_leaves_mallory);

# The superuser (a fresh session) runs "SELECT ... wal2queue.$what(...)"
# ($sql); tests that it runs without an error and that mallory is still no
# superuser ("no code of $whose owner ran as $what()'s caller").  Returns
# ($rc, $out, $err).
sub superuser_call_leaves_mallory
{
	my ($node, $what, $sql, $whose) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	diag("$what: $out $err");
	is($rc, 0, "$what() runs without an error");
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		"no code of $whose owner ran as $what()'s caller (mallory is no superuser)");
	return ($rc, $out, $err);
}

# mallory's own session maintains m.jobs (2 days ahead, 7 kept): tests
# that it creates days and gives no WARNING
push @EXPORT, qw(mallory_maintains_own m_jobs_slot);

sub mallory_maintains_own
{
	my ($node) = @_;
	my ($out, $err) = as_mallory($node, q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 2, 7)}, 1);
	like($out, qr/^created\|m\.jobs_p\d{8}$/m, "the table's owner creates the days itself");
	unlike($err, qr/WARNING/, 'without a WARNING');
}

# m.jobs made append-only and slot $slot registered for it (then $extra_sql)
sub m_jobs_slot
{
	my ($node, $slot, $extra_sql) = @_;
	$node->safe_psql('postgres', "SELECT wal2queue.append_only('m.jobs');
	SELECT wal2queue.create_slot('$slot', 'm.jobs');" . ($extra_sql // ''));
}
