# What: foreign_code() trusts every function of the extension's schema
# ("The extension's own functions (schema wal2queue, whose owner installed
# them) are trusted").  But trusting the function is not trusting the
# call: the table's owner chooses the arguments, and the function runs
# with the caller's rights.  The owner of a job table (no superuser, not a
# member of wal2queue_sender: send() is refused to it) gives its table
# CREATE RULE jobs_del AS ON DELETE TO m.jobs DO ALSO SELECT
# wal2queue.send('payments', '{"refund": 1000000}').  pg_cron runs, as a
# superuser, prune(..., force => true): foreign_code() sees the rule call
# wal2queue.send() and trusts it; the DELETE fires the rule and send()
# emits a signed job into another tenant's target "payments" (a bridge
# verifies its signature and delivers it).  The same rule could call
# wal2queue.unregister_slot() (check_registrar() reads session_user, the
# superuser), revoke_message_key(), rotate_message_key(), append_only()
# of another table or prune(..., force => true) of another table.
# Why: sql/src/28_foreign_code.sql foreign_code(): "AND p.pronamespace <>
# 'wal2queue'::regnamespace" exempts the extension's functions whoever
# calls them; a rule's action (like a policy's or a trigger's WHEN) is the
# table owner's code even when every function it names is trusted.
# Expected: prune() skips a table with an ON DELETE rule of another role
# whatever the rule calls (or at least one calling a function of the
# extension that is not IMMUTABLE), with a WARNING; no message emitted.
# Severity: high (a tenant forges signed jobs into any target, or
# unregisters slots / revokes the message key, through the role running
# prune(), typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes the rule DO ALSO NOTHING: passes.
# Fixed: prune() acts on a table whose owner is no superuser only in a
# session of that owner (wal2queue.owner_session()): whatever the rule
# calls, it is not run by the superuser's call, which skips m.jobs with a
# WARNING; nothing sent.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_rule_send');
owner_code_fixture($node, extension => 1);
my $action = $ENV{W2Q_ATTACK_CONTROL} ? 'NOTHING'
  : q{SELECT wal2queue.send('payments', '{"refund": 1000000}')};
my ($out, $err) = as_mallory($node, q{SELECT wal2queue.send('payments', '{"refund": 1000000}')}, 1);
like($err, qr/permission denied for function send/, 'mallory may not call send() itself');
($out, $err) = as_mallory($node, qq{
	CREATE TABLE m.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE RULE jobs_del AS ON DELETE TO m.jobs DO ALSO $action;
	INSERT INTO m.jobs VALUES (1, 'q', '{}');});
is($err, '', "mallory's job table with an ON DELETE rule");
m_jobs_slot($node, 's527', q{
	SELECT pg_create_logical_replication_slot('watch', 'test_decoding');});

# (the control: the owner's own session prunes, which the rule cannot abuse)
my ($rc, $pout, $perr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)},
	$ENV{W2Q_ATTACK_CONTROL} ? (extra_params => [ '-U', 'mallory' ]) : ());
diag("prune: rc $rc: $pout $perr");
is($pout, '1', 'prune() deletes the delivered row') if $ENV{W2Q_ATTACK_CONTROL};
my $msgs = $node->safe_psql('postgres', q{SELECT data FROM pg_logical_slot_peek_changes('watch', NULL, NULL)
	WHERE data LIKE 'message:%'});
diag("messages: $msgs");
unlike($msgs, qr/prefix: wal2queue\S*:payments/, "no message sent to another target by the table owner's rule as prune()'s caller");
$node->stop;
done_testing();
