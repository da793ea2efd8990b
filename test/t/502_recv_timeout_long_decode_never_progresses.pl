# What: --recv-timeout shorter than half the walsender's keepalive period
# (wal_sender_timeout / 2: the walsender decoding a long transaction that
# writes nothing answers nothing more often), and a large transaction on a
# table the bridge does not stream (a bulk load, an UPDATE of many rows)
# that takes longer than that to decode.  The bridge pings, drops the
# session, reconnects; the wait doubles -- until the first keepalive of the
# next session resets the doubling, and the session is dropped again
# before the walsender's next keepalive.  Every session decodes the same
# transaction from the start again: the job committed after it is never
# delivered, the slot never moves, and the loop never ends.
# Why: bridge/bridge.c read_stream() resets silent_drops on every message
# (a keepalive included), so stream_silent()'s doubling is undone by the
# very keepalives that prove the server busy but alive; a session is cut
# after recv_timeout * 2 of silence, whatever it saw before.  The comment
# promises "a walsender busy for long (a huge transaction decoded without
# output) is never cut forever".
# Expected: the job committed after the large transaction is delivered
# (the doubling kept until a session makes progress, or the timeout never
# below the keepalive period the server announces).
# Severity: medium -- delivery stops for good after a bulk load while the
# bridge reconnects in a loop (each session re-decodes the transaction:
# CPU, disk for its spill files), with an operator setting the option
# documents (--recv-timeout=SECS, any value from 1) and a longer
# wal_sender_timeout than the bridge's timeout * 4 (here 1 s and 10 s; the
# defaults, 60 s and 60 s, hold; the default 60 s with a wal_sender_timeout
# raised above 4 min, as operators do for large transactions, does not).
# Fixed: bridge/bridge.c note_received(): any message ends a silence, but
# only progress (data past the highest LSN received, in any session)
# resets the doubling of the wait: the keepalives of the slow decode and
# the re-read of WAL already read no longer undo it, the wait grows past
# the walsender's answering period and the decode ends.
# Control (W2Q_ATTACK_CONTROL=1): --recv-timeout 0 (off): the job is
# delivered once the transaction is decoded.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $rows = $ENV{W2Q_502_ROWS} // 8000000;
my $node = new_node('rt502', conf => "wal_sender_timeout = '10s'\n");
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY); CREATE TABLE big (id int)});
my $r = start_redis();
my $b = start_bridge($node, $r, '--slot', 'rt', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1', '--recv-timeout', $control ? '0' : '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "rt"/ }, 60), 'streaming') or diag(bridge_log($b));
$node->safe_psql('postgres', 'INSERT INTO jobs VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'job 1 delivered');

my $t0 = time;
$node->safe_psql('postgres', "INSERT INTO big SELECT generate_series(1, $rows)");
$node->safe_psql('postgres', 'INSERT INTO jobs VALUES (2)');
note(sprintf 'the large transaction committed in %.1f s', time - $t0);
$t0 = time;
my $ok = wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 180);
note(sprintf 'job 2 %s after %.1f s', $ok ? 'delivered' : 'not delivered', time - $t0);
my $drops = () = bridge_log($b) =~ /taken for lost/g;
note("sessions dropped for silence: $drops");
ok($drops <= 4, "the busy walsender is cut a few times at most ($drops)");
ok($ok, 'the job committed after the large transaction is delivered') or diag(join "\n",
	grep { /taken for lost|streaming slot|WARNING|ERROR/ } split /\n/, bridge_log($b));
stop_bridge($b);
$node->stop;
done_testing();
