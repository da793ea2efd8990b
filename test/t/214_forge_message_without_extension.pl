# Regression (issue 11 item 6, adversarial review 214): forging a job by
# message was only closed where CREATE EXTENSION wal2queue ran (it revokes
# pg_logical_emit_message() from PUBLIC in that database); the plugin decoded
# messages by default whatever the function's privileges, so in a database
# without the extension a role that may only log in put a job on any stream.
# Now, without the option messages, the plugin hands messages on only where
# PUBLIC may not execute pg_logical_emit_message(), and says why otherwise.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('forgemsg');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigserial PRIMARY KEY, payload text);
	CREATE ROLE mallory LOGIN;
	SELECT 'x' FROM pg_create_logical_replication_slot('jobs', 'wal2queue');
});
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT 'sent' FROM pg_logical_emit_message(true, 'wal2queue:public.jobs#42', '{"refund": 1000000}')},
	extra_params => [ '-U', 'mallory' ]);
note("mallory: $ret $out $err");
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_logical_slot_get_changes('jobs', NULL, NULL, 'format', 'json', 'tables', 'public.jobs')}),
	'0', 'a role with only LOGIN cannot put a job on the stream');
like(slurp_file($node->logfile),
	qr/wal2queue is ignoring logical messages: pg_logical_emit_message\(\) is executable by PUBLIC in database "postgres"/,
	'the server log says why messages are ignored');

# asked for explicitly, messages are handed on (the operator's choice)
$node->safe_psql('postgres',
	q{SELECT pg_logical_emit_message(true, 'wal2queue:public.jobs#43', 'explicit')});
is($node->safe_psql('postgres',
	q{SELECT string_agg(data::json->>'payload', ',') FROM pg_logical_slot_get_changes('jobs', NULL, NULL, 'format', 'json', 'messages', 'true')}),
	'explicit', "messages 'true' hands a message on");

# revoked from PUBLIC (what the extension does): mallory is refused, and a
# permitted role's message is a job by default
restrict_messages($node);
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT pg_logical_emit_message(true, 'wal2queue:public.jobs#44', 'forged')},
	extra_params => [ '-U', 'mallory' ]);
like($err, qr/permission denied for function pg_logical_emit_message/, 'mallory may not emit');
$node->safe_psql('postgres',
	q{SELECT pg_logical_emit_message(true, 'wal2queue:public.jobs#45', 'allowed')});
is($node->safe_psql('postgres',
	q{SELECT string_agg(data::json->>'payload', ',') FROM pg_logical_slot_get_changes('jobs', NULL, NULL, 'format', 'json')}),
	'allowed', 'with EXECUTE revoked from PUBLIC, messages are jobs by default');
$node->stop;
done_testing();
