# What: bridge/precheck.c's start-up warnings against common/tablepattern.c's
# rules, after 2a2ca7f, in the two places that fix left out.
# (a) --tables '*' (or '*.*', 'wal2*.*') with CREATE on schema wal2queue
# granted to a role that is not its owner: the open-schema warning names
# wal2queue ("roles other than the schema's owner may create tables in
# schemas that --tables selects: wal2queue (bob) ..."), though a '*' in the
# schema part never reaches the extension's schema (tablepattern_match()
# reserved_schema()), so bob's tables there are never selected; with no
# --tables the same setup names nothing (open_schema_selection() leaves
# wal2queue out only for tables == NULL).
# (b) --tables 'wal2queue.message*': tablepattern_match() never selects
# wal2queue.message_key (only the exact pattern is refused by
# tablepattern_check()), so nothing of the pattern is streamed, but the
# precheck counts message_key as a match and says nothing ("matches no
# table" is not said); a --key-column only message_key has (ipad) is not
# warned about either.
# Why: bridge/precheck.c open_schema_selection() (the '*' test is "dot ==
# NULL || strchr(dot, '*')", the table part only; no NOT_EXTENSION_SCHEMA
# for a wild schema part) and append_pattern()/USER_TABLES (no
# "NOT (n.nspname = 'wal2queue' AND c.relname = 'message_key')").
# Expected: the precheck selects what the plugin selects: (a) names no
# wal2queue for '*' / '*.*', as for no --tables; (b) warns that
# 'wal2queue.message*' matches no table and that --key-column ipad is not
# a column of any table --tables selects.
# Severity: low -- a false warning (a) and a missing one (b) at start; no
# loss.  Reliable.
# Fixed: precheck.c's open-schema selection leaves schema wal2queue out
# for '*' and for a '*' in a pattern's schema part, as the table checks do
# (NOT_EXTENSION_SCHEMA), and no pattern's match counts
# wal2queue.message_key (NOT_MESSAGE_KEY).
# Control (W2Q_ATTACK_CONTROL=1): no --tables for (a) (names nothing) and
# 'wal2queue.nothing*' for (b) (warned): passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('pre612');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE jobs (id int PRIMARY KEY);
	REVOKE CREATE ON SCHEMA public FROM PUBLIC;
	CREATE ROLE bob;
	GRANT CREATE ON SCHEMA wal2queue TO bob;
});

my $n = 0;

sub run_one
{
	my ($name, @t) = @_;
	my $slot = 'p612_' . ++$n;
	my $b = start_streaming_bridge($node, $r, '--slot', $slot, '--create-slot', @t);
	my $log = bridge_log($b);
	my ($gone) = sigterm_bridge($b);
	$b->{h}->kill_kill unless $gone;
	wait_until(sub { $node->safe_psql('postgres',
		qq{SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active}) eq '0' }, 30);
	$node->safe_psql('postgres', qq{SELECT wal2queue.unregister_slot('$slot') FROM wal2queue.slots WHERE slot_name = '$slot'});
	$node->safe_psql('postgres', qq{SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$slot'});
	note("$name: " . join("\n", grep { /WARNING/ } split /\n/, $log));
	return $log;
}

# (a) the open-schema warning
for my $v ($control ? (['no --tables']) : (['*', '--tables', '*'], ['*.*', '--tables', '*.*']))
{
	my ($name, @t) = @$v;
	my $log = run_one($name, @t);
	my ($w) = $log =~ /(WARNING: roles other than the schema's owner.*)/;
	unlike($w // '', qr/wal2queue \(bob\)/,
		"$name: schema wal2queue, which a '*' never reaches, is not named");
}

# (b) wal2queue.message_key, which no pattern selects
my $pat = $control ? 'wal2queue.nothing*' : 'wal2queue.message*';
my $log = run_one($pat, '--tables', "public.jobs,$pat", '--key-column', 'ipad');
like($log, qr/--tables pattern "\Q$pat\E" matches no table/, "$pat: matches no table, said");
like($log, qr/--key-column "ipad" is not a column of any table --tables selects/,
	"$pat: --key-column ipad is not a column of a selected table, said");
stop_redis($r);
$node->stop;
done_testing();
