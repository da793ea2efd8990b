# What: the rollback of docs/migration.md ("Drop the slot, so it does not
# hold WAL: wal2queue-bridge -d ... --slot job_queue --drop-slot (it also
# unregisters the slot, so prune() no longer waits for it)"), and the
# failover recovery's "drop it first (wal2queue-bridge --slot jobs
# --drop-slot)" of docs/operations.md, on a managed server: the slot is the
# bridge's own pgoutput slot (--create-slot --plugin=pgoutput).  The
# command as written is refused: "replication slot "jobs" uses plugin
# "pgoutput", not wal2queue; not dropping it (pg_drop_replication_slot()
# drops any slot)".  The way it names, pg_drop_replication_slot(), drops
# the slot but leaves its row in wal2queue.slots (the docs' point of
# --drop-slot is that it unregisters); the way that works (--plugin=pgoutput
# --publication=NAME, both needed for --drop-slot) is named nowhere.
# Why: bridge/ --drop-slot checks the slot's plugin against --plugin (default
# wal2queue) and its error's hint points outside the bridge; --drop-slot
# without --publication is a usage error with --plugin=pgoutput.
# Expected: --drop-slot drops (and unregisters) a slot the bridge
# registered whatever --plugin says, or the refusal names the command that
# does: the same with --plugin=pgoutput --publication=NAME.
# Severity: low -- nothing lost; the rollback step fails and its hint leads
# to a slot still registered.
# Fixed: the refusal of a pgoutput slot names the form that drops and
# unregisters it ("drop and unregister it with --plugin=pgoutput
# --publication=NAME --drop-slot"), and that form works (checked below);
# docs/migration.md and docs/operations.md show it for pgoutput mode, and
# --help says what --create-slot, --tables, --route-column and
# --key-column do with --plugin=pgoutput.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_managed_node('drop558');
my $r = start_redis();
my $b = start_managed_bridge($node, $r);
is(stop_bridge($b) >> 8, 0, 'the bridge stopped');

my @drop = ('-d', $node->connstr('app') . ' user=bridge', '--slot', 'jobs', '--drop-slot');
sub gone
{
	return $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs'}) eq '0'
	  && $node->safe_psql('app', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'}) eq '0';
}
my ($code, $out) = run_bridge(@drop);
is($code, 1, '--drop-slot without --plugin=pgoutput: refused');
like($out, qr/drop and unregister it with --plugin=pgoutput --publication=NAME --drop-slot/,
	'the refusal names the form that works') or diag($out);
unlike($out, qr/pg_drop_replication_slot/,
	'it does not send the user to pg_drop_replication_slot(), which leaves the registration');
ok(!gone(), 'nothing dropped');

($code, $out) = run_bridge(@drop, '--plugin=pgoutput', '--publication=jobs_pub');
is($code, 0, 'the named form: exit 0') or diag($out);
ok(gone(), 'the slot is dropped and unregistered');

($code, $out) = run_bridge('--help');
like($out, qr/--create-slot .*pgoutput/, '--help: what --create-slot makes with --plugin=pgoutput');
like($out, qr/--tables=PATTERNS.*\n.*\n.*--plugin=pgoutput applied by the bridge/,
	'--help: what --tables does with --plugin=pgoutput');
like($out, qr/--key-column=COL.*\n.*with --plugin=pgoutput the bridge's/,
	'--help: and --key-column');
done_testing();
