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
# Control (W2Q_ATTACK_CONTROL=1): --drop-slot with --plugin=pgoutput
# --publication=jobs_pub: exit 0, slot dropped and unregistered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('drop558');
my $r = start_redis();
my $b = start_managed_bridge($node, $r);
is(stop_bridge($b) >> 8, 0, 'the bridge stopped');

my @drop = ('-d', $node->connstr('app') . ' user=bridge', '--slot', 'jobs', '--drop-slot');
push @drop, '--plugin=pgoutput', '--publication=jobs_pub' if $control;
my ($code, $out) = run_bridge(@drop);
note($out);
my $gone = $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs'}) eq '0'
  && $node->safe_psql('app', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'}) eq '0';
ok(($code == 0 && $gone) || $out =~ /--plugin=pgoutput/,
	'the documented --drop-slot drops the slot, or its refusal names --plugin=pgoutput')
  or diag("exit $code: $out");
unlike($out, qr/pg_drop_replication_slot/,
	'it does not send the user to pg_drop_replication_slot(), which leaves the registration');
done_testing();
