# What: the bridge writes into a Redis that is a replica when the replica
# is writable (replica-read-only no, common on replicas used for scratch
# keys or left so after a failover: the old primary rejoins as a replica
# behind the address the bridge uses).  The function runs there, answers
# OK, and the bridge confirms the jobs to PostgreSQL; the primary never
# has them (a replica's own writes are not replicated, and a full resync
# drops them): silent loss, consumers on the primary never see the jobs.
# Why: bridge/redis_conn.c connect checks PING, INFO memory (eviction) and
# loads the library but never looks at INFO replication role; the function
# (redis_progress.c) cannot tell either.  docs/redis.md says "standalone or
# primary", and treats READONLY as a pause: only a read-only replica is
# caught.
# Expected: the bridge does not deliver to a replica (role:slave): a pause
# (as READONLY) or exit 1 naming the replica's primary; nothing confirmed.
# Severity: high (silent loss, confirmed to PostgreSQL) under a Redis
# setting that is legal and not mentioned in docs/redis.md.
# Control: W2Q_ATTACK_CONTROL=1 keeps the replica read-only (READONLY):
# nothing is confirmed, the test passes.
# Fixed: bridge/redis_conn.c reads INFO replication with the eviction
# watch's INFO: at every connect, and in every INFO that vouches for held
# acks; a role other than master is a pause ("Redis is a replica
# (role:slave) of host:port ..."), nothing confirmed.
# Fixed: also a Redis that becomes a writable replica under a running
# bridge (REPLICAOF: Redis keeps the bridge's connection): the next INFO of
# the eviction watch shows the role and the acks it would vouch for are not
# passed on (second part; without the INFO's role the slot is confirmed).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('wreplica');
my $primary = start_redis();
my $replica = start_redis(args => [ '--replicaof', '127.0.0.1', $primary->{port},
	'--replica-read-only', ($ENV{W2Q_ATTACK_CONTROL} ? 'yes' : 'no') ]);
ok(wait_until(sub { redis($replica, 'INFO', 'replication') =~ /master_link_status:up/ }, 30),
	'the replica is in sync with its primary');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('wr', 'wal2queue');
});
my $b = start_bridge($node, $replica, '--slot', 'wr', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'a'), (2, 'b'), (3, 'c')});
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $confirmed = wait_until(sub {
	$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'wr'") eq 't' }, 15);
diag('slot confirmed past the jobs: ' . ($confirmed ? 'yes' : 'no') . '; entries on the replica: '
	  . redis($replica, 'XLEN', 'public.jobs') . ', on the primary: ' . redis($primary, 'XLEN', 'public.jobs'));
ok(!$confirmed || redis($primary, 'XLEN', 'public.jobs') eq '3',
	'jobs confirmed to PostgreSQL are on the primary (else the bridge must not confirm them)');
# the role is checked at connect, before the first call: the replica gets
# no write at all (the eviction watch's INFO alone would hold the acks back
# but let the calls write there first)
is(redis($replica, 'XLEN', 'public.jobs') . '/' . redis($replica, 'EXISTS', 'wal2queue:progress:wr'), '0/0',
	'nothing is written to the replica (no entry, no progress record)');
stop_bridge($b);
like(bridge_log($b), qr/Redis is a replica \(role:slave\) of 127\.0\.0\.1:\d+/, 'the bridge says why it waits')
  unless $ENV{W2Q_ATTACK_CONTROL};
unlike(bridge_log($b), qr/it became one since the last check/, 'at connect: the bridge never took it for a primary')
  unless $ENV{W2Q_ATTACK_CONTROL};

# a Redis the bridge writes to becomes a writable replica while it runs: a
# failover promotes its replica and it rejoins as the new primary's replica
# (partial resync: the same data, the record too)
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('wl', 'wal2queue')});
my $old = start_redis(args => [ '--replica-read-only', 'no' ]);
my $new = start_redis(args => [ '--replicaof', '127.0.0.1', $old->{port} ]);
$b = start_bridge($node, $old, '--slot', 'wl', '--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (4, 'd')});
ok(wait_until(sub { redis($new, 'XLEN', 'public.jobs') eq '1' }, 30), 'live: job 4 delivered and replicated');
redis($new, 'REPLICAOF', 'NO', 'ONE');
redis($old, 'REPLICAOF', '127.0.0.1', $new->{port});
ok(wait_until(sub { redis($old, 'INFO', 'replication') =~ /master_link_status:up/ }, 30),
	'live: the old primary is now a replica of the new one');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (5, 'e')});
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$confirmed = wait_until(sub {
	$node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'wl'") eq 't' }, 10);
diag('live: slot confirmed past job 5: ' . ($confirmed ? 'yes' : 'no') . '; on the old primary: '
	  . redis($old, 'XLEN', 'public.jobs') . ', on the new one: ' . redis($new, 'XLEN', 'public.jobs'));
ok(!$confirmed || redis($new, 'XLEN', 'public.jobs') eq '2',
	'live: job 5 is not confirmed while only the replica holds it');
stop_bridge($b);
stop_redis($old);
stop_redis($new);
stop_redis($replica);
stop_redis($primary);
$node->stop;
done_testing();
