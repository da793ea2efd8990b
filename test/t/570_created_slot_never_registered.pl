# What: --create-slot creates the slot, then registers it with the
# extension (wal2queue.register_slot()); when that call waits on a lock
# longer than --recv-timeout (a transaction holding wal2queue.slots in
# SHARE mode, as a CREATE INDEX does, for 10 to 20 s), it is given up
# ("could not register slot ...: " with an empty reason), the drop of the
# slot fails as well ("could not drop ...: ; drop it with --drop-slot"),
# its walsender is ended at the next open (the registration rolled back),
# and the next open finds the slot existing and unregistered: not "created
# by an earlier run" (slot_check_reclaim() needs the registry row), so the
# Redis sink stops the bridge for good, on its first run: "Redis holds no
# progress record ... start with --accept-new-source".  Before e93593b the
# call waited for the lock and registered the slot.
# Why: bridge/slot.c registry_call() runs through stream_exec(), bounded
# by --recv-timeout since e93593b (and drop_created() after it fails at
# once on the given-up connection); create_slot() registers only when it
# creates, and slot_check_reclaim() treats a slot without a registry row as
# one that delivered before.
# Expected: the bridge started once with --create-slot streams, delivers
# job 1, and the slot it created is in wal2queue.slots (the registration
# is retried, or the slot dropped and created again).
# Severity: medium -- the first run stops with a misleading "Redis lost its
# data" error whose advice (--accept-new-source) is the wrong remedy, and
# an unregistered wal2queue slot stops prune() for every job table; no
# loss, no duplicate.  Reliable (3 of 3).
# Fixed: bridge/stream.c stream_exec(): register_slot() and
# unregister_slot() are bounded by the stop flag only, as
# CREATE_REPLICATION_SLOT (they wait for the lock and register the slot, as
# before e93593b); the warnings name the reason of a given-up call.
# Control: W2Q_ATTACK_CONTROL=1 holds no lock (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('reg570');
$node->append_conf('postgresql.conf', 'max_wal_senders = 10');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE oj (id int PRIMARY KEY);
});

my $lock;
unless ($control)
{
	$lock = $node->background_psql('postgres');
	$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN SHARE MODE');
}
my $b = start_bridge($node, $r, '--slot', 'oj', '--create-slot', '--recv-timeout', '10');
unless ($control)
{
	# the registration waits on the lock past --recv-timeout (10 s)
	ok(wait_until(sub { $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE NOT l.granted AND l.relation = 'wal2queue.slots'::regclass
		  AND a.backend_type = 'walsender'}) >= 1 }, 30), 'the registration waits on the lock');
	sleep 15;
	unlike(bridge_log($b), qr/could not register slot "oj"/,
		'it is not given up at --recv-timeout (it waits for the lock, as before e93593b)');
	$lock->quit;
}
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 90), 'the bridge streams')
  or diag(bridge_log($b));
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '1' }, 30), 'job 1 delivered')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
sleep 3;
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'oj'}),
	'1', 'the slot the bridge created and streams from is registered')
  or diag(join("\n", grep { /regist|given|ended|could not/ } split /\n/, bridge_log($b)));
sigterm_bridge($b, 20);
stop_redis($r);
$node->stop;
done_testing();
