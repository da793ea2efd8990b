# What: the README's own command line ("Usage": --slot jobs --create-slot
# --tables public.jobs, no --backfill; the same in "Managed PostgreSQL"
# step 6) with the usual failover conninfo ("host=primary,standby
# target_session_attrs=read-write").  Rows commit while the bridge is
# stopped (a deploy, a crash loop); they reach the standby; the standby is
# promoted.  The bridge refuses the new timeline and its hint says only
# "after a deliberate failover, restart with --accept-new-source".  Done
# literally (the same command line plus --accept-new-source), the bridge
# creates a new slot on the new primary, accepts the new source and
# streams: the rows committed on the old primary that it never delivered
# (they are in the table of the new primary) are never delivered, and
# nothing says so.
# Why: bridge/ (the timeline refusal's hint) does not name the documented
# recovery (docs/operations.md "Failover of PostgreSQL": --create-slot
# --backfill=CONDITION --accept-new-source, dropping a slot of that name
# first), and --accept-new-source with --create-slot but no --backfill
# creates a slot past undelivered rows without a word (the same gap
# docs/migration.md guards with "a re-created slot is a new source",
# which --accept-new-source switches off).
# Expected: either the hint prints the exact recovery command (the command
# line plus --backfill ... --accept-new-source, as the lost slot's hint
# does), or the bridge refuses --accept-new-source on a timeline change
# when it would create the slot without --backfill; following the printed
# way forward delivers every row of the new primary at least once.
# Severity: high -- silent loss of every job committed between the bridge's
# last delivery and the failover, by following the error's own advice.
# Fixed: every refusal of another source (the Redis record's, the Kafka
# position record's and partition marks', the running bridge's timeline
# check) ends with the documented recovery: "recover once with this command
# line plus --create-slot --backfill[=CONDITION] --accept-new-source, with
# no slot of this name on the server ..." (bridge/sink.h
# SINK_FAILOVER_HINT); and --accept-new-source on a slot this run created
# without --backfill refuses a record of another system or timeline (Redis:
# verdict TAKEOVER; Kafka: kafka_record.c), naming that recovery, drops the
# slot again and writes nothing.  Below: the old advice followed literally
# is refused that way, and the printed recovery delivers every row.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $r = start_redis();
my $primary = new_node('fo556_primary');
$primary->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL);
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('fo556_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write',
	$primary->host, $standby->host, $primary->port, $standby->port);
# the README's command line (no --target-prefix: streams are the queue names)
my @cmd = ('-d', $conninfo, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--redis-group', 'workers',
	'--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1');
sub xlen { return redis($r, 'XLEN', 'emails') || 0 }
sub slots { return $standby->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots') }

my $br = start_streaming_bridge(undef, undef, @cmd);
$primary->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'emails', '{}' FROM generate_series(1, 100) g});
ok(wait_until(sub { xlen() == 100 }, 30), '100 jobs delivered') or diag(bridge_log($br) . redis($r, 'KEYS', '*'));
is(stop_bridge($br) >> 8, 0, 'the bridge stopped (SIGTERM)');

# committed while the bridge is down: they reach the standby
$primary->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'emails', '{}' FROM generate_series(101, 150) g});
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;

my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'the same command line on the promoted standby: exit 1');
like($out, qr/belongs to another source .*timeline 1.*timeline 2/, 'naming the timeline change');
my ($hint) = $out =~ /(after a deliberate failover.*)/;
like($hint // '', qr/this command line plus --create-slot --backfill\[=CONDITION\] --accept-new-source/,
	'the hint prints the documented recovery') or diag($out);
is(slots(), '0', 'the refused run left no slot (557)');

# the old advice followed literally: --accept-new-source, no --backfill
($code, $out) = run_bridge(@cmd, '--accept-new-source');
is($code, 1, '--accept-new-source creating a slot on the new timeline without --backfill: exit 1');
like($out, qr/--accept-new-source without --backfill would lose them silently.*--create-slot --backfill\[=CONDITION\] --accept-new-source/,
	'naming the loss and the recovery') or diag($out);
is(slots(), '0', 'and the slot it created is dropped again');
is(xlen(), 100, 'nothing was written');
is(redis($r, 'HGET', 'wal2queue:progress:jobs', 'timeline'), '1', 'the record is not taken over');

# the printed recovery
$br = start_bridge(undef, undef, @cmd, '--backfill', '--accept-new-source');
ok(wait_until(sub { bridge_log($br) =~ /streaming slot/ || !$br->{h}->pumpable }, 60)
	&& $br->{h}->pumpable, 'the recovery runs') or diag(bridge_log($br));
$standby->safe_psql('postgres', q{INSERT INTO jobs VALUES (151, 'emails', '{}')});
wait_until(sub { redis($r, 'EVAL', q{local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
	for j = 1, #e[2], 2 do if e[2][j] == 'id' and e[2][j + 1] == '151' then n = 1 end end end return n}, 1, 'emails') eq '1'
	|| !$br->{h}->pumpable }, 60);
is(stop_bridge($br) >> 8, 0, 'the recovery stops cleanly');
my %seen;
for my $e (@{ stream_entries($r, 'emails') })
{
	$seen{ $e->[1]{id} }++;
}
my @missing = grep { !$seen{$_} } 1 .. 151;
is(scalar(@missing), 0, 'following the printed recovery, every job of the new primary is delivered')
  or diag('missing: ' . join(',', @missing[0 .. ($#missing < 9 ? $#missing : 9)]) . ' (' . scalar(@missing) . ")\n" . bridge_log($br));

# the service's command line streams on
$br = start_bridge(undef, undef, @cmd);
$standby->safe_psql('postgres', q{INSERT INTO jobs VALUES (152, 'emails', '{}')});
ok(wait_until(sub { (grep { $_->[1]{id} eq '152' } @{ stream_entries($r, 'emails') }) || !$br->{h}->pumpable }, 60)
	&& $br->{h}->pumpable, 'then the service command line streams the new primary') or diag(bridge_log($br));
stop_bridge($br);
done_testing();
