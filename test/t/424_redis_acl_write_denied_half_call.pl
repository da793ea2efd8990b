# What: a Redis user that may read every key but write only some (Redis 7
# ACL selectors: %R~* %RW~public.* %RW~wal2queue:*, the least privilege an
# operator gives a producer) and a job routed outside its write patterns
# (the route value is row data): the function's XADD of that job fails with
# NOPERM after the earlier entries of the same call, and of the same
# transaction, were written.  A function does not roll back: half the
# transaction is visible to consumers, the record is not advanced, the
# bridge exits 1; every restart writes the first half again (duplicates)
# and fails again.
# Why: bridge/redis_progress.c typecheck() checks every key's type and room
# (TYPE, XREVRANGE: reads, which the user may do) before the first write,
# "so a call never stops half-way", but not whether the user may write it;
# ACL key permissions of commands inside a function are checked command by
# command (redis.call raises), and docs/redis.md lists no ACL requirement.
# Expected: nothing of the transaction is visible (the function checks
# write permission before writing, e.g. ACL DRYRUN / a no-op write probe,
# or the bridge checks ACL at connect), the bridge stops naming the key,
# and a restart writes nothing twice.
# Severity: medium (half a transaction visible and duplicates after each
# restart; needs a write-restricted ACL user and a route outside it).
# Control: W2Q_ATTACK_CONTROL=1 routes every job inside the write pattern.
# Fixed: bridge/redis_progress.c (wal2queue_v1_deliver6) aclcheck(): before
# the first write, redis.acl_check_cmd checks every command the call may run
# after it (HSET/HDEL of the record; XADD, XGROUP CREATE, XLEN/XTRIM per
# stream; LLEN/LRANGE/DEL per staging list); a denial is NOPERM, exit 1
# naming the key and the command, nothing written (docs/redis.md, "The
# Redis user").  Also TIME (run after the writes, for updated_at): a user
# denied it (-time) gets nothing written either (second part).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('aclhalf');
my $r = start_redis();
redis($r, 'ACL', 'SETUSER', 'w2q', 'on', '>pw', '+@all', '%R~*', '%RW~public.*', '%RW~wal2queue:*', '%RW~q:*');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, route text);
	SELECT pg_create_logical_replication_slot('ac', 'wal2queue');
});
my @cmd = ('--slot', 'ac', '--accept-new-source', '--route-column', 'route',
	'--sink', "redis://w2q:pw\@127.0.0.1:$r->{port}");
my $b = start_bridge($node, undef, @cmd);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'q:a')});
ok(wait_until(sub { redis($r, 'XLEN', 'q:a') eq '1' }, 30), 'first job delivered') or diag(bridge_log($b));
my $other = $ENV{W2Q_ATTACK_CONTROL} ? 'q:b' : 'other';
$node->safe_psql('postgres', "BEGIN; INSERT INTO jobs VALUES (2, 'q:a'), (3, 'q:a'), (4, '$other'); COMMIT");
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', $other) eq '1' }, 20);
sleep 1;
my $half = redis($r, 'XLEN', 'q:a') - 1;
my $rest = redis($r, 'XLEN', $other) || 0;
diag("transaction of 3 jobs: $half in q:a, $rest in $other; bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped'));
ok(($half == 2 && $rest == 1) || ($half == 0 && $rest == 0),
	'the transaction is visible whole or not at all') or diag(bridge_log($b));
stop_bridge($b);
# a restart must not write the first half again
$b = start_bridge($node, undef, @cmd);
wait_until(sub { !$b->{h}->pumpable }, 10);
sleep 1;
my $after = redis($r, 'XLEN', 'q:a') - 1;
ok($after <= 2, "after a restart q:a holds each job at most once ($after entries of 2 jobs)");
stop_bridge($b);

# a user denied a command the function runs after its writes (TIME)
redis($r, 'ACL', 'SETUSER', 'w2t', 'on', '>pw', '+@all', '~*');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('at', 'wal2queue')});
my @tcmd = ('--slot', 'at', '--accept-new-source', '--route-column', 'route',
	'--sink', "redis://w2t:pw\@127.0.0.1:$r->{port}");
$b = start_bridge($node, undef, @tcmd);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (10, 't:a')});
ok(wait_until(sub { redis($r, 'XLEN', 't:a') eq '1' }, 30), 'TIME: job 10 delivered') or diag(bridge_log($b));
stop_bridge($b);
redis($r, 'ACL', 'SETUSER', 'w2t', '-time') unless $ENV{W2Q_ATTACK_CONTROL};
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (11, 't:a')});
$b = start_bridge($node, undef, @tcmd);
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 't:a') eq '2' }, 20);
sleep 1;
my $t = redis($r, 'XLEN', 't:a');
diag("user without TIME: $t entries in t:a; bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped'));
ok($t eq '1' || $ENV{W2Q_ATTACK_CONTROL}, 'TIME: job 11 is not written by a call that cannot record it');
like(bridge_log($b), qr/may not run TIME \(ACL\)/, 'TIME: named') unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b);

# a user that may write the streams but not the progress record: nothing
# written.  Redis itself refuses the FCALL (the record is its declared key:
# "NOPERM ... one of the keys used as arguments", naming no key), before
# the function's own HSET/HDEL check runs, which no test can then reach
redis($r, 'ACL', 'SETUSER', 'w2h', 'on', '>pw', '+@all', '~*');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('ah', 'wal2queue')});
my @hcmd = ('--slot', 'ah', '--accept-new-source', '--route-column', 'route',
	'--sink', "redis://w2h:pw\@127.0.0.1:$r->{port}");
$b = start_bridge($node, undef, @hcmd);
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (20, 'h:a')});
ok(wait_until(sub { redis($r, 'XLEN', 'h:a') eq '1' }, 30), 'record: job 20 delivered') or diag(bridge_log($b));
stop_bridge($b);
redis($r, 'ACL', 'SETUSER', 'w2h', 'resetkeys', '%R~*', '%RW~h:*') unless $ENV{W2Q_ATTACK_CONTROL};
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (21, 'h:a')});
$b = start_bridge($node, undef, @hcmd);
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'h:a') eq '2' }, 20);
sleep 1;
my $h = redis($r, 'XLEN', 'h:a');
diag("user without write on the record: $h entries in h:a; bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped'));
ok($h eq '1' || $ENV{W2Q_ATTACK_CONTROL}, 'record: job 21 is not written by a call that cannot record it');
like(bridge_log($b), qr/NOPERM/, 'record: the refusal is named') unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
