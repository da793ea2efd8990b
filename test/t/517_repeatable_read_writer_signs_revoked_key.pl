# What: 472's fix, for a REPEATABLE READ transaction whose snapshot predates
# a revocation: send() reads the key row's xmax (the revoking transaction),
# extends it to 64 bits "in the epoch of xid, at most xid" and refuses the
# key if that transaction committed.  But a transaction's xid is assigned
# at its first write, not at send(): the application's usual transaction
# writes first (INSERT INTO orders ...), then calls send().  Its xid is
# then OLDER than the revoker's, the revoker's xmax is taken for one of the
# previous epoch (kxmax - 2^32 < 0), the check is skipped, and send()
# signs with the revoked key 1.  The bridge, restarted after the
# revocation as docs/managed.md says, drops the job ("signed with a
# revoked key"): a legitimate job, committed after the revocation, lost;
# send() and COMMIT succeeded.
# Why: sql/src/10_send.sql send(): 'IF kxmax > xid THEN kxmax := kxmax -
# 4294967296' assumes the key row's xmax is never newer than the caller's
# own xid.
# Expected: send() either fails (serialization_failure, retry) or signs
# with a key not revoked; the job is never silently dropped.
# Severity: medium (silent loss of the jobs of REPEATABLE READ /
# SERIALIZABLE writers around a revocation, the case 472 fixed, whenever
# the transaction wrote before send(): the common case).
# Fixed: sql/src/10_send.sql send() takes the xmax for the full xid
# nearest to its own (either order), and asks the row itself (SELECT ...
# FOR SHARE: the server's rules) whenever its snapshot cannot judge the
# xmax: not visible in the snapshot, or a value that may be a MultiXactId.
# The writer that INSERTed first is refused (serialization_failure, "Retry
# the transaction"); a committed lock-only xmax (an administrator's FOR
# SHARE, or two at once: a MultiXactId) refuses no send(), neither a later
# one nor one whose snapshot predates the lock (before, 472's check
# refused those: a false positive); every send() that succeeded is
# delivered, none signed with a revoked key.  (revoke_message_key() locks
# the row FOR UPDATE first, so its own xmax is no MultiXact.)
# Control: W2Q_ATTACK_CONTROL=1 leaves out the INSERT before send() (472's
# sequence): refused as before.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('rr517');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer; GRANT SELECT ON wal2queue.message_key TO bridge;
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	GRANT INSERT ON orders TO app_writer; GRANT USAGE ON SEQUENCE orders_id_seq TO app_writer});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
my $sent = 0;
my $rows = 0;

# a REPEATABLE READ writer (snapshot and, unless the control, xid taken
# first); $between runs while it waits; then its send() and COMMIT
sub rr_send
{
	my ($n, $between) = @_;
	my $s = $node->background_psql('app', on_error_stop => 0, extra_params => [ '-U', 'app_writer' ]);
	$s->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$s->query_safe($control ? 'SELECT 1' : qq{INSERT INTO orders (note) VALUES ('order $n')});
	$between->();
	$s->{stderr} = '';
	$s->query(qq{SELECT wal2queue.send('emails', '{"n": $n}')});
	my $err = $s->{stderr};
	$s->query('COMMIT');
	$s->quit;
	$sent++ unless $err =~ /ERROR/;
	return $err;
}

# a READ COMMITTED send(): its stderr
sub rc_send
{
	my ($n) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('app') . ' user=app_writer', '-c', qq{SELECT wal2queue.send('emails', '{"n": $n}')} ]);
	$sent++ unless $err =~ /ERROR/;
	return $err;
}

sub caught_up
{
	$rows++;
	psql_as($node, 'admin', qq{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": $rows}')});
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" }, 30);
}

# 1. the revocation after the writer's INSERT (517)
my $err = rr_send(1, sub {
	psql_as($node, 'admin', 'SELECT wal2queue.rotate_message_key()');
	psql_as($node, 'admin', 'SELECT wal2queue.revoke_message_key(1)');
	stop_bridge($b);    # docs/managed.md: restart the bridge after revoke_message_key()
});
like($err, qr/ERROR:  wal2queue.send: key 1 of wal2queue.message_key was revoked or changed after this transaction's snapshot.*HINT:  Retry the transaction/s,
	'a writer that wrote before the revocation: send() refused, retry') or diag($err);
$b = start_bridge($node, $r, @args);

# 2. a committed lock-only xmax (an administrator's FOR SHARE) refuses nothing
my $lock = q{BEGIN; SELECT id FROM wal2queue.message_key WHERE id = 2 FOR SHARE; COMMIT};
$err = rr_send(2, sub { psql_as($node, 'admin', $lock) });
is($err, '', 'a lock committed after the snapshot: send() signs') unless $control;
psql_as($node, 'admin', $lock);
is(rc_send(3), '', 'a lock committed before: a later send() signs');
$err = rr_send(4, sub { });
is($err, '', 'and a REPEATABLE READ one');

# 3. a lock-only MultiXact xmax (two FOR SHARE at once, committed) refuses
# nothing either, whatever the MultiXactId reads as an xid
$err = rr_send(5, sub {
	my @l = map { $node->background_psql('app', extra_params => [ '-U', 'admin' ]) } 1 .. 2;
	$_->query_safe('BEGIN') for @l;
	$_->query_safe('SELECT id FROM wal2queue.message_key WHERE id = 2 FOR SHARE') for @l;
	$_->query_safe('COMMIT') for @l;
	$_->quit for @l;
});
is($err, '', 'a MultiXact of lockers committed after the snapshot: send() signs') unless $control;
is(rc_send(6), '', 'and a later send()');

ok(caught_up(), 'a row after them is delivered') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), "$sent", "every send() that succeeded is delivered ($sent)");
unlike(bridge_log($b), qr/signed with a revoked key/, 'no message of send() was signed with a revoked key');
stop_bridge($b);
done_testing();
