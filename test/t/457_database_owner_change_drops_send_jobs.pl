# What: after the database changes owner (ALTER DATABASE app OWNER TO ...,
# a routine step when an administrator role is replaced), the bridge no
# longer trusts wal2queue.message_key (its owner is no member of the new
# owner) and ignores every send() job from then on: skipped, confirmed
# past, lost; one warning per session and a metric are all that tell.
# Why: bridge/message_access.h MESSAGE_KEY_STATE_SQL judges the key
# 'untrusted' unless the table's and schema's owners are members of the
# database's current owner; bridge/pgoutput.c decode_message() then treats
# a signed message like a forgery (messages_ignored++, return FRAME_OK) and
# the ledger confirms past it.  A signed message the bridge cannot verify
# is lost, where the message says nothing was wrong with it.
# Expected: send()'s jobs are not lost: the bridge stops (or holds the
# slot) while it cannot verify signed messages, or the trust rule does not
# depend on who owns the database now; jobs sent meanwhile are delivered
# once the operator fixes it (here: restart after ALTER TABLE/SCHEMA OWNER).
# Severity: medium (silent loss after a plausible operator change).
# Control: send() before the owner change is delivered.
# Fixed: a message signed with a key of a table the bridge does not trust
# is not judged: the bridge stops with an error naming the cause and the
# fix (bridge/message_access.c message_access_untrusted; pgoutput.c
# PGO_UNTRUSTED), nothing past it confirmed; after the operator's fix and
# a restart, the job is delivered.  The trust rule is unchanged (a planted
# key, test/t/445, is not trusted either).  A message whose MAC no key of
# the table makes is still a forgery, skipped: a role that can only emit
# messages cannot stop the bridge this way.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $f = signed_send_fixture('owner457', q{
	CREATE ROLE new_admin LOGIN CREATEROLE;
});
my ($node, $r, @args) = ($f->{node}, $f->{r}, @{ $f->{args} });
sub send_job { $f->{send_job}->(@_) }
sub caught_up { $f->{caught_up}->() }
sub payloads { $f->{payloads}->() }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
is(send_job(1), '', 'send() before the owner change');
ok(caught_up(), 'decoded');
is(payloads(), '{"n": 1}', 'control: job 1 delivered');
my $lsn = $node->safe_psql('app', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('app', "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 't' }),
	'the slot is confirmed past job 1');

$node->safe_psql('postgres', 'ALTER DATABASE app OWNER TO new_admin');
is(stop_bridge($b) >> 8, 0, 'the bridge restarts (a deploy, a network blip)');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"|exit/ }), 'the bridge starts again') or diag(bridge_log($b));
psql_as($node, 'admin', 'CREATE ROLE mallory LOGIN');
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app') . ' user=mallory',
	'-c', "SELECT pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 32) || ':emails', 'forged')" ]);
is($e, '', 'a LOGIN role emits a message with a forged MAC');
ok(caught_up(), 'the forgery is skipped: the bridge goes on');
is(send_job(2), '', 'send() after the owner change');
ok(wait_until(sub { !$b->{h}->pumpable }), 'the bridge stops') or diag(bridge_log($b));
my $rows = ++$f->{rows};
psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $rows}')");
sleep 2;
is(redis($r, 'XLEN', 'public.jobs'), $rows - 1, 'a row after it is not delivered: nothing is confirmed past the signed message');
like(bridge_log($b), qr/ERROR: a message signed by send\(\) with key 1 of wal2queue.message_key in database "app" cannot be judged: the bridge does not trust wal2queue\.message_key.*hint: .*ALTER TABLE wal2queue\.message_key OWNER TO/,
	'with an error naming the cause and the fix');
like(bridge_log($b), qr/does not trust wal2queue\.message_key/, 'the bridge says that it does not trust the key');
is(payloads(), '{"n": 1}', 'job 2 is not delivered yet');
# the operator sees the warning and fixes the ownership, then restarts
$node->safe_psql('app', 'ALTER SCHEMA wal2queue OWNER TO new_admin; ALTER TABLE wal2queue.message_key OWNER TO new_admin');
isnt(stop_bridge($b) >> 8, 0, 'the stopped bridge exited with an error');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams after the fix') or diag(bridge_log($b));
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" }), 'caught up');
is(payloads(), '{"n": 1},{"n": 2}', 'job 2, sent while the key was not trusted, is delivered after the fix');
stop_bridge($b);
done_testing();
