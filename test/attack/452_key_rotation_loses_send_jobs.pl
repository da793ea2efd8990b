# What: replacing the key of wal2queue.message_key as docs/managed.md says
# ("UPDATE wal2queue.message_key with a new key and its pads ... then
# restart the bridge") loses send()'s jobs: (a) those sent between the
# UPDATE and the restart are ignored by the running bridge (it verifies with
# the key it read at stream open) and confirmed past, so the restart never
# sees them; (b) those sent before the UPDATE but decoded after it (a
# stopped or lagging bridge, a backlog) are ignored by the new session.
# Why: bridge/pgoutput.c decode_message() counts a message whose MAC does
# not verify as ignored and goes on (messages_ignored++; return FRAME_OK),
# and the ledger confirms past it; bridge/slot.c slot_read_message_key()
# reads the key once per stream open, and only the current key.  A MAC that
# does not verify with the key of the session is not told apart from a
# forgery.
# Expected: every committed send() is delivered exactly once across a key
# rotation done the documented way (e.g. the bridge re-reads the key, or
# stops instead of confirming past a signed message it cannot verify, or
# keeps the previous key).
# Severity: high (silent loss of jobs on a routine security operation).
# Control: a send() before the rotation, decoded before it, is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_managed_node('rotate452');
my $r = start_redis();
psql_as($node, 'admin', q{
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
	GRANT SELECT ON wal2queue.message_key TO bridge;
});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');

sub send_job
{
	my ($n) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('app') . ' user=app_writer', '-c', "SELECT wal2queue.send('emails', '{\"n\": $n}')" ]);
	return $err;
}

# the rotation of docs/managed.md (the install's DO block, as an UPDATE)
my $rotate = q{DO $$
DECLARE
    k bytea := decode(replace(concat(gen_random_uuid(), gen_random_uuid(), gen_random_uuid()), '-', ''), 'hex');
    k0 bytea := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad bytea := k0;
    opad bytea := k0;
BEGIN
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k0, i) # 54);
        opad := set_byte(opad, i, get_byte(k0, i) # 92);
    END LOOP;
    UPDATE wal2queue.message_key SET key = k, ipad = rotate.ipad, opad = rotate.opad;
END
$$};
$rotate =~ s/^DO \$\$/DO \$\$ <<rotate>>/;

my $rows = 0;
sub caught_up
{
	$rows++;
	psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $rows}')");
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" });
}
sub payloads { join(',', map { $_->[1]{payload} } @{ stream_entries($r, 'emails') }) }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
is(send_job(1), '', 'send() before the rotation');
ok(caught_up(), 'decoded');
is(payloads(), '{"n": 1}', 'control: job 1 delivered');

# (a) rotate while the bridge runs, send, then restart the bridge (the docs)
psql_as($node, 'admin', $rotate);
is(send_job(2), '', 'send() after the rotation, while the bridge runs');
ok(caught_up(), 'decoded by the running bridge');
is(stop_bridge($b) >> 8, 0, 'the bridge is restarted, as the docs say');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
ok(caught_up(), 'caught up');
is(payloads(), '{"n": 1},{"n": 2}', '(a) job 2, sent between the rotation and the restart, is delivered');

# (b) a backlog signed with the old key, decoded after a rotation
is(stop_bridge($b) >> 8, 0, 'the bridge stops (maintenance, or it lags)');
is(send_job(3), '', 'send() while the bridge is stopped');
psql_as($node, 'admin', $rotate);
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
ok(caught_up(), 'caught up');
like(payloads(), qr/\{"n": 3\}$/, '(b) job 3, sent before the rotation and decoded after it, is delivered');
unlike(bridge_log($b), qr/ignoring wal2queue logical messages/, 'no signed send() is ignored');
is(send_job(4), '', 'control: send() with the new key, read at this stream open');
ok(caught_up(), 'caught up');
like(payloads(), qr/\{"n": 4\}$/, 'control: job 4 is delivered (the rotation itself is right)');
stop_bridge($b);
done_testing();
