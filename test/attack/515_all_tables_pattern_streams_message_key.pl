# What: an operator selects every table explicitly, --tables '*.*' (the
# README's grammar: "* matches any run of characters within the schema or
# the table name"), instead of leaving --tables out.  Without --tables the
# plugin and the bridge leave the extension's schema out; with a pattern
# that matches it they select wal2queue.message_key too (and with pgoutput
# a '*' in a schema part makes the publication FOR ALL TABLES, which
# publishes it).  wal2queue.rotate_message_key() INSERTs the new secret key
# (and its HMAC pads): the row becomes a job in the stream
# "wal2queue.message_key", readable by every worker of the sink.  Whoever
# reads it can sign send()'s messages for any target with
# pg_logical_emit_message(), which PUBLIC may execute on a managed server
# (docs/managed.md, "Who holds the key" names the owner, the bridge's role,
# superusers, pg_read_all_data and backups, not the sink's readers).
# Why: plugin/relinfo.c (the extension's schema is left out only when no
# tables option is given: 'opt->tables != NIL || strcmp(schema,
# "wal2queue") != 0'), bridge/rowjob.c the same rule for pgoutput
# ('(pats && pats->n > 0) || strcmp(schema, EXTENSION_SCHEMA) != 0');
# sql/src/05_message_key.sql keeps the key in a logged table.
# Expected: the key never leaves the database through the stream: the
# extension's tables are never jobs (or at least wal2queue.message_key is
# never one), whatever --tables says; no stream "wal2queue.message_key".
# Severity: medium (an operator's '*.*' hands the signing key, and every
# rotated one, to every consumer of the sink: forged signed jobs; silent).
# Control: W2Q_ATTACK_CONTROL=1 selects 'public.*': passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('all_tables_key');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $pat = $ENV{W2Q_ATTACK_CONTROL} ? 'public.*' : '*.*';
my $b = start_bridge($node, $r, '--slot', 'allt', '--create-slot', '--tables', $pat,
	'--status-interval', '1');
ok(wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /streaming|START_REPLICATION|started/i }, 30),
	'the bridge streams') or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"n": 1}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) >= 1 }, 30), 'a job arrives')
  or diag(bridge_log($b));
my $kid = $node->safe_psql('postgres', q{SELECT wal2queue.rotate_message_key()});
my $key = $node->safe_psql('postgres', qq{SELECT encode(key, 'hex') FROM wal2queue.message_key WHERE id = $kid});
ok(length($key) >= 64, "key $kid rotated in");
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"n": 2}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) >= 2 }, 30), 'a job after the rotation arrives')
  or diag(bridge_log($b));
my $keys = redis_json($r, 'KEYS', '*') // [];
diag('Redis keys: ' . join(' ', sort @$keys));
my $dump = join("\n", map { join(' ', map { ref $_ ? join(' ', @$_) : $_ } @$_) }
	@{ redis_json($r, 'XRANGE', 'wal2queue.message_key', '-', '+') // [] });
is(scalar(grep { /^wal2queue\.message_key$/ } @$keys), 0, 'no stream of the key table');
unlike($dump, qr/\Q$key\E/i, 'the new secret key is in no stream entry');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
