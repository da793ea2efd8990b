# --backfill into Kafka, the bridge killed with -9 at each moment of a
# backfill's life (bridge/backfill_testhook.c, W2Q_TEST_BACKFILL_PAUSE
# pauses it there, then the test kills it), and the same command line
# started again finishes it: every selected row and every row inserted
# meanwhile exactly once per key, no completed row.  The moments:
#	marker		the creation marker is in the state topic, no slot yet
#	slot		the slot is created, no first state (the window Kafka
#				used to leave open: the restart refused the slot with
#				"holds no backfill of it")
#	first-state	the first state (the consistent point), no page
#	page-half	half of the first page in Kafka (acknowledged), no state
#	last-page	every page recorded, not the done state
# Without transactions here; test/t/391 runs the same with
# --kafka-transactions (W2Q_390_TXN=1), without page-half: librdkafka's
# mock cluster shows aborted messages to the read-back (036's header).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $txn = $ENV{W2Q_390_TXN} ? 1 : 0;
my @moments = $txn ? qw(marker slot first-state last-page)
  : qw(marker slot first-state page-half last-page);
my ($k, $node) = kafka_backfill_servers($txn ? 'bfmoments_tx' : 'bfmoments', 300,
	q{CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'pending' END});
my $bs = $k->{bootstrap};
$node->safe_psql('postgres', 'CREATE SEQUENCE new_ids START 100000');

# every message of a topic (committed ones only with transactions)
sub messages
{
	return kafka_messages($bs, $_[0], $txn ? ('-X', 'isolation.level=read_committed') : ());
}

# the last backfill state of a slot, as name => value
sub last_state
{
	my ($prefix, $slot) = @_;
	my @m = messages("${prefix}wal2queue-backfill.$slot");
	return {} unless @m;
	return { map { /^([a-z]+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $m[-1][3] };
}

sub slot_exists
{
	my ($slot) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'") eq '1';
}

# a pending row committed now: the backfill's or the stream's, once (the
# slots of later moments backfill it too, in their own topics)
sub insert_new
{
	return $node->safe_psql('postgres',
		"INSERT INTO jobs VALUES (nextval('new_ids'), 'pending') RETURNING id");
}

my %state_check = (
	'marker' => sub { my ($st, $slot) = @_; ($st->{lsn} // '') eq '0/0' && !slot_exists($slot) },
	'slot' => sub { my ($st, $slot) = @_; ($st->{lsn} // '') eq '0/0' && slot_exists($slot) },
	'first-state' => sub { my ($st) = @_; ($st->{lsn} // '0/0') ne '0/0' && ($st->{rows} // '') eq '0' },
	'page-half' => sub { my ($st) = @_; ($st->{lsn} // '0/0') ne '0/0' && ($st->{rows} // '') eq '0' },
	'last-page' => sub { my ($st) = @_; ($st->{rows} // 0) >= 200 && ($st->{done} // '') eq '0' });

for my $at (@moments)
{
	(my $slot = "bf_$at") =~ s/-/_/g;
	my $prefix = "$slot.";
	my $topic = "${prefix}public.jobs";
	my @cmd = kafka_backfill_cmd($bs, $slot, "--backfill=status = 'pending'",
		($txn ? ('--kafka-transactions') : ()));
	my @new;

	my $br = start_paused_bridge($node, $at, undef, @cmd);
	ok(wait_until(sub { bridge_log($br) =~ /paused at "\Q$at\E"/ || !$br->{h}->pumpable }, 60)
		  && $br->{h}->pumpable, "$at: the bridge pauses there") or diag(bridge_log($br));
	push @new, insert_new();
	$br->{h}->signal('KILL');
	$br->{h}->finish;
	my $st = last_state($prefix, $slot);
	ok($state_check{$at}->($st, $slot), "$at: killed -9 with the state and slot of that moment")
	  or diag(explain($st));
	if ($at eq 'page-half')
	{
		my $n = () = messages($topic);
		ok($n > 0 && $n < 40, "$at: $n rows of the first page are in kafka without its state");
	}
	push @new, insert_new();
	if ($at eq 'slot')
	{
		# without --backfill the marker is an unfinished backfill: streaming
		# the slot would never deliver the rows its snapshot holds
		my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', $slot,
			'--tables', 'public.jobs', '--target-prefix', $prefix, '--sink', "kafka://$bs",
			($txn ? ('--kafka-transactions') : ()));
		ok($code == 1 && $out =~ /replication slot "\Q$slot\E" has an unfinished backfill .*--backfill=/s,
			"$at: a start without --backfill is refused, naming the command line that resumes it")
		  or diag($out);
	}

	# the same command line, as a service manager restarts it
	$br = start_bridge($node, undef, @cmd);
	ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "\Q$slot\E" done/ || !$br->{h}->pumpable }, 90)
		  && $br->{h}->pumpable, "$at: the same command line finishes the backfill")
	  or diag(bridge_log($br));
	like(bridge_log($br), qr/dropping it and starting the backfill again/, "$at: the slot is created again")
	  if $at eq 'slot';
	like(bridge_log($br), qr/resuming the backfill of slot/, "$at: the backfill is resumed")
	  if $at =~ /first-state|page-half|last-page/;
	push @new, insert_new();
	ok(wait_until(sub { grep { $_->[0] eq $new[-1] } messages($topic) }, 60),
		"$at: then the stream flows") or diag(bridge_log($br));
	is(stop_bridge($br) >> 8, 0, "$at: SIGTERM: exit 0");

	# every pending row: in the slot's snapshot (backfilled) or committed
	# after it (streamed), including those of the moments before
	each_pending_once($node, [ messages($topic) ], "$at: each selected and each new row exactly once");
}

stop_kafka_mock($k);
$node->stop;
done_testing();
