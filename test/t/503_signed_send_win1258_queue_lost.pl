# What: in a WIN1258 database on a managed server (--plugin=pgoutput), an
# application's wal2queue.send() to a queue whose name holds a character
# that is not ASCII ("Hà Nam") is never delivered: the bridge takes the
# signed job for a forgery and drops it, silently (no WARNING, nothing in
# the stream, the slot confirmed past it).  send() signed the prefix in
# UTF-8 (PostgreSQL's conversion, 451); the bridge converts the prefix it
# receives in the database's encoding with its own conversion, which
# loses the last character of the prefix (see 501), so the MAC fails.
# The same happens in an EUC_JP database to a queue or key naming one of
# the characters of 500 (the conversion differs from PostgreSQL's).
# The only trace is the generic WARNING "ignoring wal2queue logical
# messages ... none of them was signed with the key", which is untrue.
# Why: bridge/encoding.c encoding_to_utf8() (CP1258's held-back character
# never flushed; one byte skipped on EILSEQ), called by bridge/pgoutput.c
# to_utf8() on the message prefix before judge_signed() verifies it with
# message_sign_verify(): a MAC that does not verify is a forgery
# (SIGNED_NO_JOB), after a key re-read.
# Expected: the job is delivered to stream "Hà Nam" (the prefix converted
# as PostgreSQL converts it, so that the MAC send() made verifies).
# Severity: high -- loss of committed send() jobs, silently, for any queue
# name, target or key with a non-ASCII character in a WIN1258 (or WIN1255)
# database; the transaction committed and the slot moves past it.
# Control (W2Q_ATTACK_CONTROL=1): queue "Ha Nam" (ASCII): delivered.
# Fixed: the bridge converts the prefix as PostgreSQL does (test/t/501,
# 500, 025), so the MAC send() made verifies.  The WARNING for a message
# whose MAC does not verify (a forged one, emitted here after the send())
# now says what was checked (the key the prefix names, the xid, the
# prefix in UTF-8 as convert_to() gives it, the payload), not "none of
# them was signed".
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ standalone_app_fixture('vn503', encoding => 'WIN1258',
	admin_sql => 'CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender; GRANT USAGE ON SCHEMA wal2queue TO app_writer') }{qw(node r b)};

my $queue = $control ? 'Ha Nam' : "H\xc3\xa0 Nam";	# UTF-8 bytes of "Hà Nam"
my $hex = unpack('H*', $queue);
# the name converted by the server from UTF-8, whatever psql's encoding
psql_as($node, 'app_writer', "SELECT wal2queue.send(convert_from('\\x$hex'::bytea, 'UTF8'), '{\"n\": 1}')");
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"after": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'a row inserted after the send() is delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', $queue), '1', "the send() job is in stream \"$queue\"")
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)) . "\nkeys: " . redis($r, 'KEYS', '*'));

# a forged message (any role may emit one here): ignored, and the WARNING
# says what was checked
psql_as($node, 'admin', "SELECT pg_logical_emit_message(true, 'wal2queue!1.' || repeat('0', 64) || ':forged', '{}')");
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"after": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 30), 'a row inserted after the forged message is delivered');
is(redis($r, 'EXISTS', 'forged'), '0', 'the forged message is no job');
like(bridge_log($b), qr/none of them carried a MAC that verified: each was checked as send\(\) signs it, HMAC-SHA256/,
	'the WARNING says what was checked');
stop_bridge($b);
$node->stop;
done_testing();
