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
# Fixed: common/tablepattern.c (built into the plugin and the bridge), two
# rules whatever --tables says: wal2queue.message_key is never selected,
# and a pattern naming it exactly is refused (plugin: "invalid pattern ...
# in wal2queue option "tables": the extension's signing keys are never
# streamed"; bridge: the same for --tables, exit 1 before any slot); a '*'
# in a pattern's schema part (or "*" alone) never reaches schema wal2queue,
# pg_catalog, information_schema or pg_*: their tables are selected only
# with the schema's name written out.  Both the plugin (its tables option)
# and the bridge's pgoutput mode (publication FOR ALL TABLES) are checked.
# Control: W2Q_ATTACK_CONTROL=1 selects 'public.*' (the rows delivered, no
# key stream, as before).
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
	CREATE TABLE wal2queue_x (id int PRIMARY KEY);
});
my $pat = $ENV{W2Q_ATTACK_CONTROL} ? 'public.*' : '*.*';

# the exact name is refused by the bridge (before any slot) and the plugin
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 'never', '--create-slot', '--tables', 'public.jobs, wal2queue.message_key');
is($rc, 2, 'the bridge refuses --tables naming wal2queue.message_key');
like($out, qr/invalid pattern "wal2queue\.message_key" in --tables: the extension's signing keys are never streamed/,
	'naming the pattern and why') or diag($out);
my ($ret, $o, $err) = $node->psql('postgres', q{
	SELECT pg_create_logical_replication_slot('peek515', 'wal2queue');
	SELECT count(*) FROM pg_logical_slot_peek_binary_changes('peek515', NULL, NULL,
		'tables', 'public.*,wal2queue.message_key');});
like($err, qr/invalid pattern "wal2queue\.message_key" in wal2queue option "tables": the extension's signing keys are never streamed/,
	'the plugin refuses it too');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('peek515')});

# plugin mode, then pgoutput mode (a '*' schema part: FOR ALL TABLES)
for my $mode ('plugin', 'pgoutput')
{
	my @extra = $mode eq 'pgoutput' ? ('--plugin', 'pgoutput', '--publication', 'allpub') : ();
	redis($r, 'FLUSHALL');
	my $b = start_bridge($node, $r, '--slot', "allt_$mode", '--create-slot', '--tables', $pat,
		'--status-interval', '1', @extra);
	ok(wait_until(sub { !$b->{h}->pumpable || bridge_log($b) =~ /streaming slot/ }, 30),
		"$mode: the bridge streams") or diag(bridge_log($b));
	$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"n": 1}')});
	ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) >= 1 }, 30), "$mode: a job arrives")
	  or diag(bridge_log($b));
	my $kid = $node->safe_psql('postgres', q{SELECT wal2queue.rotate_message_key()});
	my $key = $node->safe_psql('postgres', qq{SELECT encode(key, 'hex') FROM wal2queue.message_key WHERE id = $kid});
	ok(length($key) >= 64, "$mode: key $kid rotated in");
	$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"n": 2}');
		INSERT INTO wal2queue_x SELECT coalesce(max(id), 0) + 1 FROM wal2queue_x});
	ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) >= 2 }, 30), "$mode: a job after the rotation arrives")
	  or diag(bridge_log($b));
	my $keys = redis_json($r, 'KEYS', '*') // [];
	my $dump = join("\n", map { join(' ', map { ref $_ ? join(' ', @$_) : $_ } @$_) }
		@{ redis_json($r, 'XRANGE', 'wal2queue.message_key', '-', '+') // [] });
	is(scalar(grep { /^wal2queue\./ } @$keys), 0, "$mode: no stream of the extension's tables")
	  or diag('Redis keys: ' . join(' ', sort @$keys));
	unlike($dump, qr/\Q$key\E/i, "$mode: the new secret key is in no stream entry");
	is(redis($r, 'XLEN', 'public.wal2queue_x'), '1',
		"$mode: a table of schema public named like the extension is selected");
	stop_bridge($b, 'KILL') if $b->{h}->pumpable;
}
stop_redis($r);
$node->stop;
done_testing();
