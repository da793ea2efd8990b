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
stop_bridge($b);
stop_redis($replica);
stop_redis($primary);
$node->stop;
done_testing();
