# What: key 1 leaks to mallory (any LOGIN role: PUBLIC may execute
# pg_logical_emit_message(), as on a managed server).  The administrator
# does what README step 5 and docs/managed.md say ("rotate, then revoke ...
# No restart"): rotate_message_key(), revoke_message_key(1).  Mallory then
# signs a message with key 1, for its own transaction, and commits it.  The
# running bridge makes a job of it.
# Why: the bridge reads the keys at stream open and again only for a key id
# it does not know (bridge/pgoutput.c judge_signed(): message_keys_find()
# finds key 1 in the cache read before the revocation, not revoked), so a
# revocation does nothing until the bridge reconnects.  docs/managed.md
# ("When the keys are read") says to restart the bridge after a
# revocation, but its own paragraph above it, and README step 5, say "no
# restart".
# Expected: a message committed after the revocation and signed with the
# revoked key is no job (the keys are read again for a transaction the
# cache's snapshot did not see, or the revocation reaches the running
# bridge otherwise).
# Severity: medium -- a leaked key keeps making jobs after its revocation
# until someone restarts the bridge (the documents disagree on whether to).
# Fixed (documents): README step 5 and docs/managed.md now both say that a
# revocation takes effect when the bridge reads the keys, at stream open:
# restart the bridge after revoke_message_key(), and undelivered jobs
# signed with the revoked key are dropped.  This test follows them (the
# restart); the running bridge without a restart still makes the job (the
# control, inverted: W2Q_ATTACK_CONTROL=1 leaves the restart out and fails).
# Control (original): the bridge is restarted after the
# revocation: the forgery is no job.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('revoke474');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE mallory LOGIN; GRANT SELECT ON wal2queue.message_key TO bridge});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
my $leaked = psql_as($node, 'admin', q{SELECT encode(key, 'hex') FROM wal2queue.message_key WHERE id = 1});

# mallory signs as send() does (sql/src/10_send.sql) with a key it holds
sub forge
{
	my ($n) = @_;
	return psql_as($node, 'mallory', qq{DO \$\$
DECLARE
	k0 bytea := decode('$leaked', 'hex') || decode(repeat('00', 64 - length(decode('$leaked', 'hex'))), 'hex');
	ipad bytea := k0;
	opad bytea := k0;
	body bytea := convert_to('{"n": $n}', 'UTF8');
BEGIN
	FOR i IN 0..63 LOOP
		ipad := set_byte(ipad, i, get_byte(k0, i) # 54);
		opad := set_byte(opad, i, get_byte(k0, i) # 92);
	END LOOP;
	PERFORM pg_logical_emit_message(true, 'wal2queue!1.' || encode(sha256(opad || sha256(ipad
		|| int8send(pg_current_xact_id()::text::bigint) || convert_to('wal2queue:emails', 'UTF8')
		|| '\\x00'::bytea || body)), 'hex') || ':emails', body);
END
\$\$});
}
forge(1);
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'caught up') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '1', 'check of the forging: before the revocation it is a job');

psql_as($node, 'admin', 'SELECT wal2queue.rotate_message_key()');
psql_as($node, 'admin', 'SELECT wal2queue.revoke_message_key(1)');
unless ($control)
{
	stop_bridge($b);
	$b = start_bridge($node, $r, @args);
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge restarted after the revocation, as documented');
}
forge(666);
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 30), 'caught up') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '1', 'the message signed with key 1 after its revocation is no job');
stop_bridge($b);
done_testing();
