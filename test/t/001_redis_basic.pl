# The bridge end to end: slot, jobs into Redis Streams with LSN-derived IDs
# and exact fields, consumer groups, confirmation, and every refusal with
# the right exit status and message.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('basic');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL, note text);
	CREATE TABLE other (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('check', 'wal2queue');
});

my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot',
	'--tables', 'public.jobs', '--redis-group', 'workers', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }),
	'--create-slot created the slot and streams from it');

$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs (queue, payload, note) VALUES ('emails', '{"to": "a@b.c"}', 'first');
	INSERT INTO jobs (queue, payload) VALUES ('sms', '{"n": 1}');
	INSERT INTO other VALUES (1);
	SELECT pg_logical_emit_message(true, 'wal2queue:emails#k1', 'hello');
	COMMIT;
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' && redis($r, 'XLEN', 'emails') eq '1' }),
	'two rows and one message arrived');
is(redis($r, 'EXISTS', 'public.other'), '0', 'unselected table not streamed');

my $lsn = $node->safe_psql('postgres', q{
	SELECT ((data::json->>'lsn')::pg_lsn - '0/0')::numeric
	FROM pg_logical_slot_get_changes('check', NULL, NULL, 'format', 'json') LIMIT 1});
my $e = stream_entries($r, 'public.jobs');
is_deeply([ map { $_->[0] } @$e ], [ "$lsn-0", "$lsn-1" ], 'entry IDs are <commit LSN>-<seq>');
is_deeply($e->[0][1], { id => '1', queue => 'emails', payload => '{"to": "a@b.c"}', note => 'first' },
	'fields are the columns as text');
is_deeply($e->[1][1], { id => '2', queue => 'sms', payload => '{"n": 1}' }, 'NULL columns are left out');
my $m = stream_entries($r, 'emails');
is_deeply($m, [ [ "$lsn-2", { payload => 'hello', key => 'k1' } ] ], 'a message carries payload and key');

like(redis($r, 'XINFO', 'GROUPS', 'public.jobs'), qr/workers/, '--redis-group created the group');
my $read = redis($r, 'XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', '10', 'STREAMS', 'public.jobs', '>');
like($read, qr/emails.*sms/s, 'a worker reads the jobs through the group');

# a schema change in the middle of a transaction: the frame describes the
# table again, and the rows after it carry the new column
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs (queue, payload) VALUES ('before', '{}');
	ALTER TABLE jobs ADD COLUMN added text DEFAULT 'new';
	INSERT INTO jobs (queue, payload) VALUES ('after', '{}');
	COMMIT;
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '4' }), 'rows around an ALTER TABLE arrive');
$e = stream_entries($r, 'public.jobs');
is($e->[2][1]{added}, undef, 'the row before the ALTER has no new column');
is($e->[3][1]{added}, 'new', 'the row after it has');

my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 't' }),
	'the slot is confirmed past the delivered transaction');

my $rc = stop_bridge($b);
is($rc >> 8, 0, 'SIGTERM: exit 0');
like(bridge_log($b), qr/stopped; confirmed/, 'the bridge says what it confirmed at exit');

# refusals
my ($code, $out) = run_bridge('--no-such-flag');
is($code, 2, 'unknown flag: exit 2');
like($out, qr/Try "wal2queue-bridge --help"/, 'unknown flag: hint');
($code, $out) = run_bridge('--status-interval', 'soon');
is($code, 2, 'bad value: exit 2');
like($out, qr/invalid value "soon" for --status-interval/, 'bad value: named');
($code, $out) = run_bridge('--sink', 'http://x');
is($code, 2, 'bad sink URL: exit 2');
like($out, qr/http/, 'bad sink URL: named');
($code, $out) = run_bridge('--metrics', 'nonsense');
is($code, 2, 'bad --metrics address: exit 2');
like($out, qr/invalid --metrics address "nonsense"/, 'bad --metrics address: named');
($code, $out) = run_bridge('-?');
is($code, 0, '-?: exit 0');
like($out, qr/Usage:/, '-? shows the help');
($code, $out) = run_bridge('--help');
is($code, 0, '--help: exit 0');
like($out, qr/--redis-group=NAME/, '--help lists the options');

($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'missing',
	'--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'missing slot: exit 1');
like($out, qr/replication slot "missing" does not exist/, 'missing slot: named');

$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('td', 'test_decoding')");
($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'td',
	'--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'slot of another plugin: exit 1');
like($out, qr/uses plugin "test_decoding", not wal2queue/, 'slot of another plugin: said');

($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'jobs', '--tables', 'nodot',
	'--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'bad plugin option: exit 1');
like($out, qr/invalid pattern "nodot" in wal2queue option "tables"/, 'bad plugin option: the plugin names it');

($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'jobs', '--drop-slot');
is($code, 0, '--drop-slot: exit 0');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs'"),
	'0', '--drop-slot dropped it');

# a server that does not allow wal2queue as an output plugin
my $strict = new_node('strict', no_allow_list => 1);
($code, $out) = run_bridge('-d', $strict->connstr('postgres'), '--slot', 'jobs', '--create-slot',
	'--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'plugin not allow-listed: exit 1');
like($out, qr/may not be used as an output plugin.*hint: add wal2queue to output_plugin_libraries/,
	'plugin not allow-listed: the hint says what to do');

stop_redis($r);
$node->stop;
$strict->stop;
done_testing();
