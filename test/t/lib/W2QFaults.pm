# W2QFaults.pm -- the fault matrix's harness (test/t/1*.pl): a sink (Redis
# or the Kafka mock cluster), a cell = a fresh slot and target prefix, the
# bridge, the workload (test/faults/build/w2q-workload) running while a
# fault is injected, several rounds, then a sentinel job and the verifier
# (test/faults/w2q-verify) and, on Redis, the half-transaction poller
# (test/faults/w2q-redis-poll).  Each check is a TAP test named
# "<sink> <cell>: <check>".
#
# Environment: W2Q_FAULTS=short (make check-faults-short, part of make
# check: one round per cell, smaller workloads) or W2Q_FAULTS=full (make
# check-faults: several rounds of the full workload); without it the
# suites skip, so a plain test/tap/run.sh stays quick.  W2Q_FAULTS_CELLS=REGEX
# runs only the cells whose name matches (mutate.sh uses it).
#
# W2Q_SOURCE_PLUGIN=pgoutput (make check-faults-short-pgoutput) runs the same
# cells through pgoutput, as on a managed server: the cluster refuses custom
# output plugins (output_plugin_libraries is the default), the bridge runs
# with --plugin=pgoutput --publication=w2q_<slot> as role "bridge" (LOGIN
# REPLICATION, no superuser, owner of the job tables), and the first bridge
# of a slot creates its publication (--create-slot).  The workload and the
# verifier connect as the superuser, as in the plugin mode.
package W2QFaults;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use W2QTest;

our @EXPORT = qw(faults_node redis_sink kafka_sink sink_stop sink_args run_cell
  cell_wanted short_form during_workload restart_bridge start_cell_bridge
  wait_bridge_exit kafka_cmd bridge_tail workload_start workload_wait verify_cell
  poll_start poll_stop cell_setup sentinel_wait faults_dir process_cells
  postgres_cells redis_cells kafka_cells second_slot_cell replaced_server_cell
  promoted_standby_cell pgoutput_mode);

my $root = $ENV{W2Q_ROOT};
my $cellno = 0;

sub faults_dir { return "$root/test/faults" }

# W2Q_SOURCE_PLUGIN=pgoutput: the matrix through pgoutput (see above)
sub pgoutput_mode
{
	my $p = $ENV{W2Q_SOURCE_PLUGIN} // '';
	die "W2Q_SOURCE_PLUGIN must be wal2queue or pgoutput, not \"$p\"\n"
	  unless $p =~ /^(|wal2queue|pgoutput)$/;
	return $p eq 'pgoutput';
}

sub slot_plugin { return pgoutput_mode() ? 'pgoutput' : 'wal2queue' }

# output_plugin_libraries: with pgoutput the default, as on a managed server
sub plugin_libraries
{
	return pgoutput_mode() ? "'pgoutput, test_decoding'" : "'pgoutput, test_decoding, wal2queue'";
}

# pgoutput: the bridge's role, not a superuser; it owns the job tables
sub bridge_role_setup
{
	my ($node) = @_;
	return unless pgoutput_mode();
	$node->safe_psql('postgres', q{
		DO $$ BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bridge') THEN
				CREATE ROLE bridge LOGIN REPLICATION;
			END IF;
		END $$;
		GRANT CREATE ON DATABASE postgres TO bridge;});
}

sub own_job_tables
{
	my ($node, $set) = @_;
	return unless pgoutput_mode();
	$set //= 't';
	$node->safe_psql('postgres', join('', map { "ALTER TABLE faults_$set$_ OWNER TO bridge;" } 1 .. 3));
}

# the bridge's conninfo user (appended to a conninfo)
sub bridge_user { return pgoutput_mode() ? ' user=bridge' : '' }

# W2Q_KAFKA_TXN=1 (make check-faults-kafka-txn): Kafka cells with --kafka-transactions
sub kafka_txn { return ($ENV{W2Q_KAFKA_TXN} // '') eq '1' }
sub short_form { return ($ENV{W2Q_FAULTS} // '') eq 'full' ? 0 : 1 }

sub cell_wanted
{
	my ($name) = @_;
	my $re = $ENV{W2Q_FAULTS_CELLS};
	return !defined($re) || $re eq '' || $name =~ /$re/;
}

# a node for the matrix: small wal_sender_timeout so stalls are seen quickly
sub faults_node
{
	my ($name, %opts) = @_;
	plan skip_all => 'the fault matrix runs with W2Q_FAULTS=short or full '
	  . '(make check-faults-short, make check-faults)'
	  unless ($ENV{W2Q_FAULTS} // '') =~ /^(short|full)$/;
	plan skip_all => "$root/test/faults/build/w2q-workload is missing: make -C test/faults"
	  unless -x "$root/test/faults/build/w2q-workload";
	my $node = new_node($name, no_allow_list => pgoutput_mode(),
		conf => "wal_sender_timeout = 2s\nwal_keep_size = 256MB\n" . ($opts{conf} // ''));
	bridge_role_setup($node);
	workload_setup($node);
	restrict_messages($node);
	return $node;
}

sub workload_setup
{
	my ($node, $set) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$root/test/faults/build/w2q-workload", '-d', $node->connstr('postgres'),
			'--setup', '--set', $set // 't' ], '>', \$out, '2>', \$err)
	  or die "w2q-workload --setup failed: $err";
	own_job_tables($node, $set);
}

sub redis_sink
{
	my (%opts) = @_;
	my $r = start_redis(%opts);
	return { kind => 'redis', r => $r, opts => \%opts };
}

sub kafka_sink
{
	my ($nbrokers) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ "$root/test/helpers/kafka-mock", $nbrokers // 1 ], \$in, \$out, \$err);
	$h->pump until $out =~ /\n/;
	my ($bootstrap) = $out =~ /^(\S+)/;
	return { kind => 'kafka', h => $h, in => \$in, out => \$out, bootstrap => $bootstrap,
		nbrokers => $nbrokers // 1 };
}

# one command to the mock cluster; true on "ok"
sub kafka_cmd
{
	my ($s, $cmd) = @_;
	${ $s->{out} } = '';
	${ $s->{in} } .= "$cmd\n";
	$s->{h}->pump until ${ $s->{out} } =~ /\n/;
	return ${ $s->{out} } =~ /^ok/;
}

sub sink_stop
{
	my ($s) = @_;
	if ($s->{kind} eq 'redis')
	{
		stop_redis($s->{r});
	}
	else
	{
		${ $s->{in} } .= "quit\n";
		$s->{h}->finish;
	}
}

sub sink_args
{
	my ($s) = @_;
	return $s->{kind} eq 'redis'
	  ? ('--sink', "redis://127.0.0.1:$s->{r}{port}")
	  : ('--sink', "kafka://$s->{bootstrap}", kafka_txn() ? '--kafka-transactions' : ());
}

sub sink_addr
{
	my ($s) = @_;
	return $s->{kind} eq 'redis' ? ('--redis', "127.0.0.1:$s->{r}{port}") : ('--kafka', $s->{bootstrap});
}

# a fresh cell: a new slot name (and prefix), the job tables emptied; the
# slot itself is created by the cell's first bridge (first_bridge)
sub cell_setup
{
	my ($ctx) = @_;
	my $node = $ctx->{node};
	$cellno++;
	$ctx->{prefix} //= "c$cellno.";
	$ctx->{slot} //= "faults_$cellno";
	$node->safe_psql('postgres', q{
		SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		 WHERE slot_name LIKE 'faults\_%' AND NOT active;
		TRUNCATE faults_t1, faults_t2, faults_t3, faults_msgs;});
	redis($ctx->{sink}{r}, 'FLUSHALL') if $ctx->{sink}{kind} eq 'redis';
}

sub bridge_args
{
	my ($ctx, @extra) = @_;
	my @defaults = ('--slot', $ctx->{slot}, '--status-interval', '1', '--tables', 'public.faults_t*',
		'--route-column', 'route', '--key-column', 'k', '--target-prefix', $ctx->{prefix});
	my @rest = (sink_args($ctx->{sink}), @{ $ctx->{bridge_args} // [] }, @extra);
	# an option in @rest replaces its default (the bridge refuses one given twice)
	my %given = map { $_ => 1 } grep { /^--/ } @rest;
	my @keep;
	for (my $i = 0; $i < @defaults; $i += 2)
	{
		push @keep, @defaults[ $i, $i + 1 ] unless $given{ $defaults[$i] };
	}
	return (@keep, @rest) unless pgoutput_mode();
	# pgoutput: a wildcard needs a FOR TABLES IN SCHEMA publication, which
	# only a superuser may create in PostgreSQL 15: name the tables
	s/^public\.faults_([tu])\*$/public.faults_${1}1,public.faults_${1}2,public.faults_${1}3/
	  for @keep, @rest;
	# pgoutput: a publication per slot (a second slot selects other tables)
	my ($slot) = join(' ', @keep, @rest) =~ /--slot (\S+)/;
	my @src = ('--plugin', 'pgoutput', '--publication', "w2q_$slot");
	push @src, '-d', $ctx->{node}->connstr('postgres') . bridge_user()
	  unless grep { $_ eq '-d' } @rest;
	return (@keep, @src, @rest);
}

sub start_cell_bridge
{
	my ($ctx, @extra) = @_;
	my $b = start_bridge($ctx->{node}, undef, bridge_args($ctx, @extra));
	push @{ $ctx->{bridges} }, $b;
	return $b;
}

# the first bridge of a slot creates it (--create-slot: so a sink that
# keeps a progress record knows the slot is new); returns once it exists
sub first_bridge
{
	my ($ctx, @extra) = @_;
	my ($slot) = join(' ', @extra) =~ /--slot (\S+)/;
	$slot //= $ctx->{slot};
	my $b = start_cell_bridge($ctx, '--create-slot', @extra);
	wait_until(sub {
		$ctx->{node}->safe_psql('postgres',
			"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'") eq '1'
	}, 30) or diag("slot $slot was not created:\n" . bridge_tail($b, 10));
	return $b;
}

# kill (default -9) the cell's bridge and start a new one
sub restart_bridge
{
	my ($ctx, $signal) = @_;
	my $b = $ctx->{bridge};
	$b->{h}->signal($signal // 'KILL');
	$b->{h}->finish;
	$ctx->{bridge} = start_cell_bridge($ctx);
	return $b->{h}->full_result(0);
}

sub wait_bridge_exit
{
	my ($b, $timeout) = @_;
	return undef unless wait_until(sub { !$b->{h}->pumpable }, $timeout // 30);
	$b->{h}->finish;
	return $b->{h}->full_result(0) >> 8;
}

sub bridge_tail
{
	my ($b, $n) = @_;
	my @l = split /\n/, bridge_log($b);
	@l = @l[ -($n // 8) .. -1 ] if @l > ($n // 8);
	return join("\n", @l);
}

# "redis", or "redis/pgoutput" in the pgoutput mode: the TAP names say which
sub sink_label
{
	my ($s) = @_;
	return $s->{kind} . (pgoutput_mode() ? '/pgoutput' : '');
}

my $wlseed = 0;

# the workload in the background; base distinguishes runs (ids, txn numbers)
sub workload_start
{
	my ($ctx, %o) = @_;
	my $short = short_form();
	my @cmd = ("$root/test/faults/build/w2q-workload", '-d', $o{connstr} // $ctx->{node}->connstr('postgres'),
		'--seed', $o{seed} // ++$wlseed, '--base', $o{base} // ++$ctx->{base},
		'--txns', $o{txns} // ($short ? 50 : 60), '--seconds', $o{seconds} // 30,
		'--max-rows', $o{max_rows} // ($short ? 3000 : 10000),
		'--pause-ms', $o{pause_ms} // ($short ? 100 : 60), @{ $o{args} // [] });
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub workload_wait
{
	my ($w) = @_;
	$w->{h}->finish;
	my $rc = $w->{h}->full_result(0) >> 8;
	fail("workload: exit $rc: ${ $w->{err} }") if $rc;
	my ($summary) = ${ $w->{out} } =~ /^(txns=.*)$/m;
	return $summary // '';
}

# wait (up to 5 s) until the workload commits a large transaction: the
# bridge is then reading and delivering it
sub wait_big
{
	my ($w) = @_;
	$w->{h}->pump_nb if $w->{h}->pumpable;
	my $seen = () = ${ $w->{out} } =~ /^big /mg;
	my $deadline = time() + 5;
	while (time() < $deadline && $w->{h}->pumpable)
	{
		$w->{h}->pump_nb;
		my $now = () = ${ $w->{out} } =~ /^big /mg;
		return 1 if $now > $seen;
		usleep(20_000);
	}
	return 0;
}

# call $inject $n times at random moments while the workload runs; with
# big => 1 every other time just after a large transaction committed
sub during_workload
{
	my ($w, $n, $inject, %o) = @_;
	for my $i (1 .. $n)
	{
		if ($o{big} && $i % 2 == 0 && wait_big($w))
		{
			usleep(20_000 + int(rand(200_000)));
		}
		else
		{
			usleep(int(($o{min} // 0.5) * 1e6 + rand((($o{spread} // 2.0)) * 1e6)));
		}
		last if !$w->{h}->pumpable && !$o{after_end};
		note(sprintf('fault %d at %.1f', $i, time()));
		$inject->($i);
	}
}

# the last job: once it is in the sink, everything committed before it
# should be (the verifier says whether it is)
sub sentinel_wait
{
	my ($ctx, $timeout, $table) = @_;
	my $node = $ctx->{node};
	my $id = 9_000_000_000_000 + (++$ctx->{sentinels}) + 1000 * $cellno;
	$table //= 'faults_t1';
	my $lsn = $node->safe_psql('postgres',
		"INSERT INTO $table VALUES ($id, $id, 1, 0, 'r0', 'sentinel'); SELECT pg_current_wal_lsn()");
	my $s = $ctx->{sink};
	my $target = "$ctx->{prefix}r0";
	my $dead_since;
	my $ok = eval { wait_until(
		sub {
			# a bridge that exited delivers nothing more: give up soon
			$dead_since //= time() if $ctx->{bridge} && !$ctx->{bridge}{h}->pumpable;
			die "the bridge exited\n" if $dead_since && time() - $dead_since > 3;
			if ($s->{kind} eq 'redis')
			{
				my $e = redis_json($s->{r}, 'XREVRANGE', $target, '+', '-', 'COUNT', '20') // [];
				return scalar grep { my %f = @{ $_->[1] }; ($f{id} // '') eq $id } @$e;
			}
			my ($out, $err) = ('', '');
			IPC::Run::run([ 'kcat', '-b', $s->{bootstrap}, '-C', '-t', $target, '-o', '-20', '-e', '-q',
					'-f', '%s\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(30));
			return $out =~ /"id":$id\b/;
		},
		$timeout // 120) };
	# on Kafka the sentinel's partition may be ahead of the others: wait
	# until the slot is confirmed past it too (all acknowledged)
	wait_until(sub {
		$node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots
			WHERE slot_name = '$ctx->{slot}' AND confirmed_flush_lsn >= '$lsn'") eq '1'
	}, 30) if $ok;
	return $ok;
}

sub poll_start
{
	my ($ctx) = @_;
	return undef unless $ctx->{sink}{kind} eq 'redis';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ "$root/test/faults/w2q-redis-poll", sink_addr($ctx->{sink}),
			'--prefix', $ctx->{prefix}, '--seconds', 600 ], '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub poll_stop
{
	my ($p) = @_;
	$p->{h}->signal('TERM');
	$p->{h}->finish;
	return ($p->{h}->full_result(0) >> 8, ${ $p->{out} } . ${ $p->{err} });
}

# the verifier against the cell's prefix; a TAP test per run
sub verify_cell
{
	my ($ctx, %o) = @_;
	my @pg = map { ('--pg', $_) } @{ $o{pg} // [ $ctx->{node}->connstr('postgres') ] };
	my @truth = map { ('--truth', $_) } @{ $o{truth} // [] };
	# the mock shows aborted transactions: the bridges' logs say which
	my @txn = $ctx->{sink}{kind} eq 'kafka' && kafka_txn()
	  ? map { ('--txn-log', $_->{log}) } @{ $ctx->{bridges} // [] } : ();
	my @cmd = ("$root/test/faults/w2q-verify", @pg, @truth, @txn, sink_addr($ctx->{sink}),
		'--prefix', $ctx->{prefix}, $o{allow_extra} ? '--allow-extra' : (),
		map { ("--$_", $o{$_ =~ tr/-/_/r}) } grep { defined $o{ $_ =~ tr/-/_/r } } qw(ignore-base split-base));
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
	my $ok = ok($out =~ /^sink:/ && $out !~ /^FAIL/m && $err eq '', "$ctx->{name}: verifier");
	note($out);
	return $ok if $ok;
	diag($out . $err);
	# a second reading tells a flaky consumer from a real loss
	sleep 3;
	($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
	diag("a second reading 3 s later:\n" . join("\n", grep { /^(sink|ok|FAIL)/ } split /\n/, $out . $err));
	return $ok;
}

# A cell: setup, bridge, (poller), rounds of workload + fault, sentinel,
# verifier.  $o{fault}->($ctx, $workload, $round) injects the fault while
# the workload runs (and leaves the bridge running afterwards).
sub run_cell
{
	my (%o) = @_;
	my $ctx = { %o, name => sink_label($o{sink}) . " $o{name}" };
	return unless cell_wanted($o{name});
	my $t0 = time();
	cell_setup($ctx);
	$ctx->{bridge} = first_bridge($ctx);
	my $poll = $o{no_poll} ? undef : poll_start($ctx);
	my $rounds = $o{rounds} // (short_form() ? 1 : 3);
	for my $round (1 .. $rounds)
	{
		my $w = workload_start($ctx, %{ $o{workload} // {} });
		$o{fault}->($ctx, $w, $round);
		note("$ctx->{name} round $round: " . workload_wait($w));
	}
	$o{after}->($ctx) if $o{after};
	my $arrived = sentinel_wait($ctx);
	ok($arrived, "$ctx->{name}: the last job arrives")
	  or diag("bridge log:\n" . bridge_tail($ctx->{bridge}, 15));
	if ($poll)
	{
		my ($rc, $msg) = poll_stop($poll);
		ok($rc == 0, "$ctx->{name}: a reader never sees half a transaction") or diag($msg);
		note($msg);
	}
	verify_cell($ctx);
	for my $b (@{ $ctx->{bridges} })
	{
		next unless $b->{h}->pumpable;
		$b->{h}->signal('TERM');
		$b->{h}->finish;
	}
	note(sprintf("%s: %.1f s", $ctx->{name}, time() - $t0));
	return $ctx;
}

# a Lua script that keeps Redis busy for ARGV[1] microseconds
my $spin_lua = q{local t = redis.call('TIME')
	while true do
		local n = redis.call('TIME')
		if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > tonumber(ARGV[1]) then break end
	end return 1};

# stall the sink (Redis: a script of $secs, within busy-reply-threshold, so
# calls wait; Kafka: a broker down until the undo); returns the undo
sub sink_stall
{
	my ($ctx, $secs) = @_;
	my $s = $ctx->{sink};
	if ($s->{kind} eq 'redis')
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ 'redis-cli', '-p', $s->{r}{port}, 'EVAL', $spin_lua, '0',
				int($secs * 1e6) ], '>', \$out, '2>', \$err);
		return sub { $h->finish };
	}
	# with several brokers only one is down: a transaction's jobs on other
	# brokers' partitions are acknowledged, the rest wait in the producer
	# (a slow broker would not do: it has the jobs, only answers late)
	my $b = $s->{nbrokers} > 1 ? 1 + int(rand($s->{nbrokers})) : -1;
	kafka_cmd($s, "down $b");
	return sub { kafka_cmd($s, "up $b") };
}

# the cells that fault the bridge process, for either sink
sub process_cells
{
	my ($node, $sink) = @_;
	run_cell(node => $node, sink => $sink, name => 'baseline', fault => sub { });
	run_cell(node => $node, sink => $sink, name => 'bridge kill -9',
		workload => { args => [ '--big-pct', 10 ] },
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 3 : 4, sub { restart_bridge($ctx, 'KILL') }, big => 1);
		});
	# the worst moment: jobs handed to the sink, not yet acknowledged, while
	# status updates go on; with
	# small transactions as fast as PostgreSQL commits them: when one is
	# acknowledged the next ones are already in flight
	run_cell(node => $node, sink => $sink, name => 'bridge kill -9 while the sink stalls',
		# (one Kafka transaction per PostgreSQL transaction takes the mock
		# up to ~40 ms to commit: unthrottled, the slot would fall minutes behind)
		workload => { txns => 1_000_000, seconds => short_form() ? 6 : 10,
			pause_ms => $sink->{kind} eq 'kafka' && kafka_txn() ? 25 : 0,
			max_rows => 10, args => [ '--big-pct', 0 ] },
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 2 : 3, sub {
				my $undo = sink_stall($ctx, 2.5);
				usleep(1_500_000 + int(rand(700_000)));
				restart_bridge($ctx, 'KILL');
				$undo->();
			});
		});
	run_cell(node => $node, sink => $sink, name => 'bridge SIGTERM',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, 2, sub {
				my $t0 = time();
				my $rc = restart_bridge($ctx, 'TERM');
				ok(($rc >> 8) == 0 && time() - $t0 < 10,
					sprintf("$ctx->{name}: exit %d in %.1f s", $rc >> 8, time() - $t0));
			});
		});
	run_cell(node => $node, sink => $sink, name => 'bridge SIGSTOP past wal_sender_timeout',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 1 : 2, sub {
				$ctx->{bridge}{h}->signal('STOP');
				sleep 4;
				$ctx->{bridge}{h}->signal('CONT');
			});
		});
	run_cell(node => $node, sink => $sink, name => 'standby takeover under load',
		fault => sub {
			my ($ctx, $w) = @_;
			my $standby = start_cell_bridge($ctx, '--standby');
			during_workload($w, 1, sub {
				$ctx->{bridge}{h}->signal('KILL');
				$ctx->{bridge}{h}->finish;
				$ctx->{bridge} = $standby;
			}, min => 1.5);
		});
}

# the cells that fault PostgreSQL, for either sink
sub postgres_cells
{
	my ($node, $sink) = @_;
	my $n = short_form() ? 2 : 4;
	run_cell(node => $node, sink => $sink, name => 'walsender terminated',
		workload => { args => [ '--big-pct', 10 ] },
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, $n, sub {
				$node->safe_psql('postgres', "SELECT pg_terminate_backend(active_pid)
					FROM pg_replication_slots WHERE slot_name = '$ctx->{slot}' AND active");
			}, big => 1);
		});
	run_cell(node => $node, sink => $sink, name => 'postgres fast restart',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 1 : 2, sub { $node->restart });
		});
	run_cell(node => $node, sink => $sink, name => 'postgres immediate restart',
		workload => { args => [ '--big-pct', 10 ] },
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, 2, sub {
				$node->stop('immediate');
				$node->start;
			}, big => 1);
		});
}

# the cells that fault the Redis server
sub redis_cells
{
	my ($node) = @_;
	my $n = short_form() ? 2 : 4;
	my $sink = redis_sink(args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
	run_cell(node => $node, sink => $sink, name => 'redis kill -9 and restart (appendfsync always)',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, short_form() ? 1 : 3, sub {
				my $r = $ctx->{sink}{r};
				stop_redis($r, 'KILL');
				usleep(500_000);
				$ctx->{sink}{r} = start_redis(port => $r->{port}, dir => $r->{dir},
					args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
			});
		});
	run_cell(node => $node, sink => $sink, name => 'redis BUSY',
		fault => sub {
			my ($ctx, $w) = @_;
			redis($ctx->{sink}{r}, 'CONFIG', 'SET', 'busy-reply-threshold', '10');
			during_workload($w, 2 * $n, sub {
				# scripts from another client: meanwhile everyone else is
				# answered BUSY; one long, then 30 short ones 10 ms apart (a
				# refused call between two accepted ones)
				redis($ctx->{sink}{r}, 'EVAL', $spin_lua, '0', '300000');
				IPC::Run::run([ 'redis-cli', '-p', $ctx->{sink}{r}{port}, '-r', '30', '-i', '0.01',
						'EVAL', $spin_lua, '0', '15000' ], '>', \my $out, '2>', \my $err);
			}, min => 0.1, spread => 0.5);
			redis($ctx->{sink}{r}, 'CONFIG', 'SET', 'busy-reply-threshold', '5000');
		});
	run_cell(node => $node, sink => $sink, name => 'redis OOM then memory raised',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, $n, sub {
				my $r = $ctx->{sink}{r};
				my ($used) = redis($r, 'INFO', 'memory') =~ /used_memory:(\d+)/;
				redis($r, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
				redis($r, 'CONFIG', 'SET', 'maxmemory', $used + 200_000);
				sleep 2;
				redis($r, 'CONFIG', 'SET', 'maxmemory', '0');
			});
		});
	run_cell(node => $node, sink => $sink, name => 'redis CLIENT KILL',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, 3 * $n, sub {
				my ($i) = @_;
				# every other time while Redis is busy with a script, so the
				# bridge has calls queued that the kill throws away
				my $undo = $i % 2 ? sink_stall($ctx, 1) : sub { };
				usleep(500_000) if $i % 2;
				redis($ctx->{sink}{r}, 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
				$undo->();
			}, min => 0.2, spread => 1);
		});
	sink_stop($sink);

	# without persistence a restart loses jobs already confirmed: the bridge
	# must notice (its progress record is gone) and stop, not carry on
	return unless cell_wanted('redis without persistence');
	$sink = redis_sink();
	my $ctx = { node => $node, sink => $sink, name => sink_label($sink) . ' without persistence killed' };
	cell_setup($ctx);
	my $b = $ctx->{bridge} = first_bridge($ctx);
	my $w = workload_start($ctx);
	workload_wait($w);
	ok(sentinel_wait($ctx), "$ctx->{name}: delivered before the crash");
	my $r = $sink->{r};
	stop_redis($r, 'KILL');
	$sink->{r} = start_redis(port => $r->{port}, dir => $r->{dir});
	$w = workload_start($ctx, txns => 20);
	workload_wait($w);
	my $rc = wait_bridge_exit($b, 30);
	ok(defined $rc && $rc == 1, "$ctx->{name}: the bridge stops with exit 1")
	  or diag("exit " . ($rc // 'none (still running)') . "\n" . bridge_tail($b, 15));
	like(bridge_log($b), qr/ERROR.*(lost|no progress record|persist)/i,
		"$ctx->{name}: and says the sink lost what it had");
	stop_bridge($b) if $b->{h}->pumpable;
	sink_stop($sink);
}

# the cells that fault the Kafka cluster (3 brokers)
sub kafka_cells
{
	my ($node, $sink) = @_;
	my $n = short_form() ? 2 : 3;
	run_cell(node => $node, sink => $sink, name => 'kafka broker down and up',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, $n, sub {
				kafka_cmd($ctx->{sink}, 'down -1');
				sleep 2;
				kafka_cmd($ctx->{sink}, 'up -1');
			});
		});
	# errors a producer cannot retry (the sink fails, the bridge replays from
	# the slot): topic authorization failed (29), invalid producer epoch (47)
	run_cell(node => $node, sink => $sink, name => 'kafka produce errors',
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, $n, sub {
				my ($i) = @_;
				kafka_cmd($ctx->{sink}, $i % 2 ? 'errors 0 29 2' : 'errors 0 47 1');
			});
		});
	# One request in flight per partition here: librdkafka's mock checks
	# sequence numbers only for transactional producers, so while leaders
	# move it can refuse request 1 and append request 2 of one partition,
	# which a broker refuses (OUT_OF_ORDER_SEQUENCE_NUMBER).  The bridge
	# then loses nothing (the suspect is read back and re-sent: test/t/350,
	# unit test_kafka_implicit_ack) but the re-sent job lands after the
	# later one, an order step no client could avoid there without
	# duplicates; with one request in flight the mock cannot make that gap.
	run_cell(node => $node, sink => $sink, name => 'kafka leader change',
		bridge_args => [ '-X', 'max.in.flight.requests.per.connection=1' ],
		fault => sub {
			my ($ctx, $w) = @_;
			during_workload($w, 2 * $n, sub {
				my $to = 1 + int(rand(3));
				for my $t (map { "$ctx->{prefix}$_" } qw(r0 r1 r2 r3 public.faults_t1 public.faults_t2 public.faults_t3))
				{
					kafka_cmd($ctx->{sink}, "leader $t $_ $to") for 0 .. 3;
				}
			}, min => 0.3, spread => 1);
		});
}

# a second slot (other tables) writing the same targets: on Redis both are
# delivered exactly once; on Kafka the second bridge stops with an error
# naming another source (never skips silently)
sub second_slot_cell
{
	my ($node, $sink) = @_;
	return unless cell_wanted('second slot');
	my $kafka = $sink->{kind} eq 'kafka';
	my $ctx = { node => $node, sink => $sink, name => sink_label($sink) . " second slot, same targets" };
	workload_setup($node, 'u');
	cell_setup($ctx);
	$node->safe_psql('postgres', 'TRUNCATE faults_u1, faults_u2, faults_u3');
	$ctx->{bridge} = first_bridge($ctx);
	my $poll = poll_start($ctx);
	my $wa = workload_start($ctx, args => ['--no-messages']);
	sleep 2 if $kafka;
	my @b2 = ('--slot', "$ctx->{slot}_b", '--tables', 'public.faults_u*');
	my $b2 = first_bridge($ctx, @b2);
	my $wb = workload_start($ctx, base => 500, args => [ '--no-messages', '--set', 'u' ]);
	workload_wait($_) for $wa, $wb;
	ok(sentinel_wait($ctx), "$ctx->{name}: the first slot's last job arrives")
	  or diag(bridge_tail($ctx->{bridge}, 15));
	if ($kafka)
	{
		my $rc = wait_bridge_exit($b2, 60);
		ok(defined $rc && $rc == 1, "$ctx->{name}: the second bridge stops with exit 1")
		  or diag('exit ' . ($rc // 'none (still running)') . "\n" . bridge_tail($b2, 15));
		like(bridge_log($b2), qr/source/i, "$ctx->{name}: its error names another source");
		# the second slot's jobs are not checked (its bridge should have stopped)
		$node->safe_psql('postgres', 'TRUNCATE faults_u1, faults_u2, faults_u3');
		verify_cell($ctx, ignore_base => 500);
	}
	else
	{
		ok(sentinel_wait($ctx, 120, 'faults_u1'), "$ctx->{name}: the second slot's last job arrives")
		  or diag(bridge_tail($b2, 15));
		my ($rc, $msg) = poll_stop($poll);
		ok($rc == 0, "$ctx->{name}: a reader never sees half a transaction") or diag($msg);
		# two sources: per key, each one's jobs in its own commit order
		verify_cell($ctx, split_base => 500);
	}
	poll_stop($poll) if $poll && $poll->{h}->pumpable;
	$_->{h}->pumpable && stop_bridge($_) for @{ $ctx->{bridges} };
	$node->safe_psql('postgres', "DROP TABLE faults_u1, faults_u2, faults_u3;
		SELECT pg_drop_replication_slot('$ctx->{slot}_b')");
}

# pgoutput: the operator creates the publication on a new server, as the
# bridge would (--create-slot) for public.faults_t*
sub create_publication
{
	my ($node, $slot) = @_;
	return unless pgoutput_mode();
	$node->safe_psql('postgres', "SET ROLE bridge; CREATE PUBLICATION w2q_$slot
		FOR TABLE faults_t1, faults_t2, faults_t3
		WITH (publish = 'insert', publish_via_partition_root = true)");
}

# the operator creates the slot on the new server, unless the running
# bridge (--create-slot) was quicker
sub recreate_slot
{
	my ($node, $slot) = @_;
	eval {
		$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('$slot', '"
			  . slot_plugin() . "')");
		1;
	} or $@ =~ /already exists/ or die $@;
}

sub system_identifier
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
}

# the bridge met another source: exit 1 with a message matching $re; then
# it continues with --accept-new-source
sub expect_source_refused
{
	my ($ctx, $re, $what) = @_;
	my $b = $ctx->{bridge};
	my $rc = wait_bridge_exit($b, 30);
	ok(defined $rc && $rc == 1, "$ctx->{name}: the bridge stops with exit 1")
	  or diag('exit ' . ($rc // 'none (still running)') . "\n" . bridge_tail($b, 15));
	like(bridge_log($b), $re, "$ctx->{name}: the error names $what");
	stop_bridge($b) if $b->{h}->pumpable;
	$ctx->{bridge} = start_cell_bridge($ctx, '--accept-new-source');
}

# stop the node, start a fresh cluster on the same port, create the slot:
# the bridge exits 1 naming both system identifiers; with
# --accept-new-source it continues
sub replaced_server_cell
{
	my ($sink) = @_;
	return unless cell_wanted('server replaced');
	my $a = faults_node("replaced_a_$sink->{kind}");
	my $ctx = { node => $a, sink => $sink, name => sink_label($sink) . " server replaced behind the conninfo" };
	cell_setup($ctx);
	$ctx->{bridge} = first_bridge($ctx);
	workload_wait(workload_start($ctx));
	ok(sentinel_wait($ctx), "$ctx->{name}: the first server's jobs arrive");
	my $truth = "$PostgreSQL::Test::Utils::tmp_check/truth_$ctx->{slot}";
	IPC::Run::run([ "$root/test/faults/w2q-verify", '--pg', $a->connstr('postgres'), '--dump-truth' ],
		'>', $truth) or die 'could not dump the truth';
	my $sysid_a = system_identifier($a);
	# pgoutput: the new server needs the role, its tables and the
	# publication before the bridge meets it (a missing role is an error
	# that stops the bridge for another reason): it waits, stopped, meanwhile
	my $held = pgoutput_mode() && $ctx->{bridge}{h}->pumpable;
	$ctx->{bridge}{h}->signal('STOP') if $held;
	$a->stop('fast');
	my $b = PostgreSQL::Test::Cluster->new("replaced_b_$sink->{kind}", port => $a->port);
	$b->init(allows_streaming => 'logical');
	$b->append_conf('postgresql.conf', "output_plugin_libraries = " . plugin_libraries() . "\n"
		  . "max_replication_slots = 10\nmax_wal_senders = 10\nwal_sender_timeout = 2s\n");
	$b->start;
	bridge_role_setup($b);
	workload_setup($b);
	restrict_messages($b);		# as faults_node: else its messages are no jobs
	create_publication($b, $ctx->{slot});
	recreate_slot($b, $ctx->{slot});
	$ctx->{bridge}{h}->signal('CONT') if $held;
	$ctx->{node} = $b;
	my $sysid_b = system_identifier($b);
	expect_source_refused($ctx, qr/(?=.*\Q$sysid_a\E)(?=.*\Q$sysid_b\E)/s,
		"both system identifiers ($sysid_a, $sysid_b)");
	workload_wait(workload_start($ctx, base => 200));
	ok(sentinel_wait($ctx), "$ctx->{name}: with --accept-new-source the new server's jobs arrive")
	  or diag(bridge_tail($ctx->{bridge}, 15));
	# two sources: per key, each server's jobs in its own commit order
	verify_cell($ctx, truth => [$truth], split_base => 200);
	$_->{h}->pumpable && stop_bridge($_) for @{ $ctx->{bridges} };
	$b->stop;
}

# a physical standby promoted while the bridge runs (its conninfo lists
# both servers): the bridge stops and says the timeline changed
sub promoted_standby_cell
{
	my ($sink) = @_;
	return unless cell_wanted('standby promoted');
	my $a = faults_node("promote_a_$sink->{kind}");
	$a->backup('b1');
	my $s = PostgreSQL::Test::Cluster->new("promote_s_$sink->{kind}");
	$s->init_from_backup($a, 'b1', has_streaming => 1);
	$s->start;
	my $ctx = { node => $a, sink => $sink, name => sink_label($sink) . " physical standby promoted" };
	$ctx->{bridge_args} = [ '-d', sprintf('host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write',
		$a->host, $s->host, $a->port, $s->port) . bridge_user() ];
	cell_setup($ctx);
	$ctx->{bridge} = first_bridge($ctx);
	workload_wait(workload_start($ctx));
	ok(sentinel_wait($ctx), "$ctx->{name}: the primary's jobs arrive");
	$a->wait_for_catchup($s);
	$a->stop('fast');
	$s->promote;
	recreate_slot($s, $ctx->{slot});
	$ctx->{node} = $s;
	expect_source_refused($ctx, qr/timeline changed/i, 'the timeline change');
	workload_wait(workload_start($ctx, base => 200));
	ok(sentinel_wait($ctx), "$ctx->{name}: with --accept-new-source the new primary's jobs arrive")
	  or diag(bridge_tail($ctx->{bridge}, 15));
	verify_cell($ctx);
	$_->{h}->pumpable && stop_bridge($_) for @{ $ctx->{bridges} };
	$s->stop;
}

1;
