# What: after a failover (a physical standby promoted), the service's
# command line with --create-slot (the README's, or docs/migration.md's
# unit) is started against the new primary, as Restart=on-failure does.
# The sink's record refuses the new timeline (exit 1), but only after the
# bridge CREATED slot "jobs" on the new primary; the refused run leaves it
# there.  That slot starts past every row the old slot never delivered,
# holds WAL on the new primary from then on, and makes the documented
# recovery (docs/operations.md "Failover of PostgreSQL": the command line
# plus --backfill --accept-new-source) fail with "replication slot "jobs"
# exists and redis holds no backfill of it", pointing at --backfill-again.
# Why: bridge/ creates the slot before it asks the sink whether it accepts
# the source; the drop-on-refusal (README "Usage": "a slot the server
# refuses ... is dropped again ... so is one the Redis record refuses at
# once", test/t/260) covers only a dropped slot's record, not a foreign
# source's.  test/t/034 checks that the RUNNING bridge created no slot,
# never the restarted one.
# Expected: a run refused by the sink's source check leaves no slot it
# created (as the README promises for a mistyped command line), so the
# documented recovery runs as written.
# Severity: medium -- no loss by itself, but the documented recovery fails
# on the first try and the way out it prints (--backfill-again) is not the
# documented one; the stray slot retains WAL on the new primary.
# Fixed: the Redis sink marks a refusal of the session's first call
# (another source, SOURCE; or TAKEOVER, see 556) of a slot this run created
# as new_slot_refused, as NEWSLOT did, so bridge.c drops the slot again
# (and unregisters it).  Dropping, not accepting it in the recovery: the
# slot starts past every row the old one had not delivered, and only a slot
# created with the backfill's exported snapshot re-delivers them with no
# hole between the snapshot and the stream.  The documented recovery then
# runs as written.  (The Kafka sink already dropped a created slot on any
# fatal record verdict, kafka_record.c.)
# Control (W2Q_ATTACK_CONTROL=1): the same, without the promotion (the
# bridge restarted on the same primary): no second slot, it streams.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $r = start_redis();
my $primary = new_node('fo557_primary');
$primary->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL,
		status text NOT NULL DEFAULT 'pending');
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('fo557_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write',
	$primary->host, $standby->host, $primary->port, $standby->port);
my @cmd = ('-d', $conninfo, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1');

my $br = start_streaming_bridge(undef, undef, @cmd);
$primary->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'emails', '{}' FROM generate_series(1, 10) g});
ok(wait_until(sub { (redis($r, 'XLEN', 'emails') || 0) == 10 }, 30), '10 jobs delivered')
  or diag(bridge_log($br));
is(stop_bridge($br) >> 8, 0, 'the bridge stopped (SIGTERM)');
$primary->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'emails', '{}' FROM generate_series(11, 20) g});
$primary->wait_for_catchup($standby);
my $now = $primary;
unless ($control)
{
	$primary->stop('immediate');
	$standby->promote;
	$now = $standby;
	is($now->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
		'the promoted standby has no slot');
	my ($code, $out) = run_bridge(@cmd);
	is($code, 1, 'the service command line on the new primary: exit 1');
	note($out);
	is($now->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
		'the refused run left no slot on the new primary');

	# the documented recovery, as written (no --drop-slot: no slot should be there)
	$br = start_bridge(undef, undef, @cmd, "--backfill", '--accept-new-source');
}
else
{
	$br = start_bridge(undef, undef, @cmd);
}
ok(wait_until(sub { (redis($r, 'XLEN', 'emails') || 0) >= 20 || !$br->{h}->pumpable }, 60)
	&& $br->{h}->pumpable, 'the documented recovery delivers the 10 undelivered jobs')
  or diag(bridge_log($br));
stop_bridge($br);
done_testing();
