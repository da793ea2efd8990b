# ATTACK (fails on main): forging a job by message is only closed where
# CREATE EXTENSION wal2queue ran (it revokes pg_logical_emit_message() from
# PUBLIC in that database).  The extension is optional (README, Usage: "with
# the extension installed ..."), and the plugin decodes messages by default
# (messages = true) whatever the function's privileges: in a database without
# the extension a role that may only log in puts a job on any stream, keyed
# as it likes (issue 11, item 6: "secure by default").  Expected: the plugin
# does not hand on messages anyone may emit (e.g. messages default off, or
# on only when EXECUTE on pg_logical_emit_message is not granted to PUBLIC).
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
$node->stop;
done_testing();
