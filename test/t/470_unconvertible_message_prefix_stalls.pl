# What: in a database whose encoding is not UTF-8 (here WIN1252), any role
# that can log in (PUBLIC may execute pg_logical_emit_message(), as on a
# managed server) emits one transactional message whose prefix holds a
# character WIN1252 stores but UTF-8 has no equivalent for (byte 0x81, from
# chr(129)).  The prefix need not even start with "wal2queue": pgoutput
# sends every message ('messages' 'true').
# Why: since 456 every bridge connection asks for client_encoding=UTF8
# (bridge/pgerror.c pgerror_connect(), PGERROR_CLIENT_ENCODING), so the
# walsender converts each message's prefix to UTF-8 with pq_sendstring()
# (logicalrep_write_message) and raises "character with byte sequence 0x81
# in encoding "WIN1252" has no equivalent in encoding "UTF8"": the stream
# ends at that message, and every new session decodes it again and ends
# there again.  Nothing committed after it (a row, a send()) is ever
# delivered, and the slot retains WAL without end.  Before 456 the client
# encoding was the database's and nothing was converted.  The plugin mode
# knows this case (plugin/utf8.c: "A conversion must never fail: an ERROR
# would come back at every attempt to decode the same record, and the slot
# would never move. ... WIN1252 stores 0x81": U+FFFD instead); the
# pgoutput mode hands the conversion to the walsender, which raises.
# Expected: a foreign message that cannot be converted does not stop
# delivery: the row inserted and the send() made after it are delivered
# (e.g. the bridge streams in the database's encoding and converts itself,
# skipping or refusing by name what does not convert).
# Severity: high -- any LOGIN role stops delivery of a whole database for
# good with one statement (WAL retained until the slot is dropped); also a
# row of a job table holding such a character, written by an application.
# Fixed: for a database whose encoding is not UTF8 the bridge's pgoutput
# stream asks for client_encoding = the database's own (bridge/stream.c),
# so the walsender never converts, and the bridge converts names, values
# and prefixes to UTF-8 itself with iconv, U+FFFD for what UTF-8 lacks
# (bridge/encoding.c, pgoutput.c); a send() prefix is verified as UTF-8,
# as send() signed it.  A job table's row holding the character is
# delivered too, with U+FFFD.
# Control (W2Q_ATTACK_CONTROL=1): the message's prefix holds chr(233) ("é",
# which converts): everything is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ standalone_app_fixture('win470', encoding => 'WIN1252', roles => 'CREATE ROLE mallory LOGIN;',
	admin_sql => 'CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender; GRANT USAGE ON SCHEMA wal2queue TO app_writer') }{qw(node r b)};

psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'a first row is delivered') or diag(bridge_log($b));

my $ch = $control ? 233 : 129;
psql_as($node, 'mallory', "SELECT pg_logical_emit_message(true, 'x' || chr($ch), 'hello')");
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 2}')});
psql_as($node, 'app_writer', q{SELECT wal2queue.send('emails', '{"n": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 30),
	"the row inserted after mallory's message is delivered") or diag(bridge_log($b));
ok(wait_until(sub { redis($r, 'XLEN', 'emails') eq '1' }, 10), 'and the send() after it')
  or diag(bridge_log($b));
# a job table's row holding the character: delivered, converted as the plugin does
psql_as($node, 'admin', qq{INSERT INTO jobs (queue, payload) VALUES ('q', jsonb_build_object('v', 'x' || chr($ch)))});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '3' }, 10), 'a row holding it is delivered')
  or diag(bridge_log($b));
my $want = $ch == 129 ? "x\xef\xbf\xbd" : "x\xc3\xa9";	# UTF-8 bytes
my @with = grep { join("\0", values %{ $_->[1] }) =~ /\Q$want\E/ } @{ stream_entries($r, 'public.jobs') };
is(scalar @with, 1, 'its text arrives as UTF-8 (U+FFFD for chr(129))')
  or diag(explain(stream_entries($r, 'public.jobs')->[2]));
my $log = bridge_log($b);
unlike($log, qr/has no equivalent in encoding/, 'no session ended at the unconvertible prefix')
  or diag(substr($log, -1500));
stop_bridge($b);
done_testing();
