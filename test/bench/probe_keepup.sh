#!/usr/bin/env bash
# test/bench/probe_keepup.sh -- why the bridge keeps up with single-row
# transactions or not: scenario 6's load once, with the evidence beside it.
#
#   test/bench/probe_keepup.sh BRIDGE [SECONDS [WORKERS [strace]]]
#
# Starts its own PostgreSQL and Redis (test/lib/cluster.sh), the bridge
# BRIDGE into Redis, WORKERS consumers (default 32) and 4 unthrottled
# pgbench producers of single-job transactions for SECONDS (default 8), and
# prints: produced and delivered jobs and the slot lag when the producers
# stop; WAL not yet sent by the walsender and sent but not confirmed;
# CPU and run-queue wait of Redis, the walsender and the bridge
# (/proc/PID/schedstat: a process that waits much longer than it runs is
# starved of CPU); Redis's per-command figures (INFO commandstats: FCALL
# calls per transaction). With "strace" as the fourth argument, also the
# sizes of Redis's reads from the bridge's connection for 3 seconds.
# Run two bridges alternately to compare them under the same load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/cluster.sh
. "$root/test/lib/cluster.sh"
bridge=${1:?usage: probe_keepup.sh BRIDGE [SECONDS [WORKERS [strace]]]}
secs=${2:-8} workers=${3:-32} trace=${4:-}
bridge=$(cd "$(dirname "$bridge")" && pwd)/$(basename "$bridge")
[ -x "$bridge" ] || { echo "probe_keepup: $bridge is not executable" >&2; exit 1; }
make -s -C "$here" consumer
tmp=$(mktemp -d /tmp/wal2queue-probe.XXXXXX)
chmod 755 "$tmp"
bpid=
cleanup()
{
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null
	wait 2>/dev/null
	w2q_redis_stop "$tmp/redis"
	w2q_pg_stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT

w2q_pg_start "$tmp/pg"
w2q_redis_start "$tmp/redis"
export PGHOST=$W2Q_PGHOST PGPORT=$W2Q_PGPORT PGUSER=postgres PGDATABASE=postgres
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
rcli() { redis-cli -p "$W2Q_REDIS_PORT" "$@"; }
# run and run-queue wait of PID in ms since boot
sched() { awk '{printf "%d %d", $1 / 1e6, $2 / 1e6}' "/proc/$1/schedstat"; }
# Redis's CPU seconds (INFO cpu: user + sys, all its threads)
redis_cpu() { rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {print s}'; }

sql -f "$here/bench.sql" >/dev/null 2>&1
PGOPTIONS="-c client_min_messages=warning" sql -v prefill=0 -f "$here/skiplocked/schema.sql" >/dev/null
"$bridge" -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" --slot keep \
	--sink "redis://127.0.0.1:$W2Q_REDIS_PORT" --tables public.jobs --route-column queue \
	--create-slot --redis-group workers 2>"$tmp/bridge.log" &
bpid=$!
wspid=
for _ in $(seq 100); do
	wspid=$(sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'keep'")
	[ -n "$wspid" ] && break
	sleep 0.1
done
[ -n "$wspid" ] || { echo "probe_keepup: the bridge did not start" >&2; cat "$tmp/bridge.log" >&2; exit 1; }
rpid=$(cat "$tmp/redis/redis.pid")
"$here/consumer" -p "$W2Q_REDIS_PORT" -n "$workers" -c 1 -t $((secs + 2)) >"$tmp/workers.out" 2>&1 &
sleep 1
rcli CONFIG RESETSTAT >/dev/null
rcpu0=$(redis_cpu)
read -r r0 rw0 <<<"$(sched "$rpid")"
read -r w0 ww0 <<<"$(sched "$wspid")"
read -r b0 bw0 <<<"$(sched "$bpid")"
if [ "$trace" = strace ]; then
	(sleep $((secs / 2)); timeout 3 strace -e trace=read -p "$rpid" -o "$tmp/redis.strace" 2>/dev/null) &
	tpid=$!
fi
PGOPTIONS="-c synchronous_commit=off" pgbench -n -f "$here/skiplocked/producer.pgb" \
	-T "$secs" -c 4 -j 1 >"$tmp/producers.log" 2>&1
delivered=$(rcli XLEN default)
rcpu1=$(redis_cpu)
stats=$(rcli INFO commandstats | tr -d '\r')
read -r r1 rw1 <<<"$(sched "$rpid")"
read -r w1 ww1 <<<"$(sched "$wspid")"
read -r b1 bw1 <<<"$(sched "$bpid")"
calls=$(rcli INFO commandstats | sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),.*/\1/p')
produced=$(awk -F'[:/ ]+' '/actually processed/ {print $6}' "$tmp/producers.log")
echo "produced $produced, delivered $delivered" \
	"($(awk -v d="$delivered" -v p="$produced" 'BEGIN {printf "%.2f", d / p}')×)," \
	"slot lag $(sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)
		FROM pg_replication_slots WHERE slot_name = 'keep'") bytes"
sql -c "SELECT 'WAL unsent ' || pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn) ||
	' bytes, sent but not confirmed ' || pg_wal_lsn_diff(sent_lsn, flush_lsn) || ' bytes'
	FROM pg_stat_replication"
echo "ms running / waiting to run: Redis $((r1 - r0)) / $((rw1 - rw0))," \
	"walsender $((w1 - w0)) / $((ww1 - ww0)), bridge $((b1 - b0)) / $((bw1 - bw0))"
echo "FCALL calls ${calls:-0}: $(awk -v d="$delivered" -v c="${calls:-0}" \
	'BEGIN {printf "%.1f", (c > 0 ? d / c : 0)}') transactions per call"
# the time inside each command (commandstats: wall time, so a command
# preempted counts its wait too) against Redis's CPU; the rest is its event
# loop: reading, parsing, replying, the system calls for each client
echo "Redis CPU $(awk -v a="$rcpu0" -v b="$rcpu1" 'BEGIN {printf("%.2f", b - a)}') s," \
	"$(awk -v a="$rcpu0" -v b="$rcpu1" -v d="$delivered" 'BEGIN {printf("%.1f", (d > 0) ? (b - a) * 1e6 / d : 0)}') µs per job delivered; inside commands:"
echo "$stats" | awk -F'[:,=]' -v cpu="$(awk -v a="$rcpu0" -v b="$rcpu1" 'BEGIN {print (b - a) * 1e6}')" \
	-v d="$delivered" '/^cmdstat_/ {sub(/^cmdstat_/, "", $1); n[$1] = $3; u[$1] = $5; t += $5}
	END {for (c in u) if (u[c] > 0.005 * cpu)
			printf("  %s: %d calls, %.2f µs each, %.1f µs per job, %.0f%% of Redis CPU\n", c, n[c],
				u[c] / n[c], (d > 0) ? u[c] / d : 0, 100 * u[c] / cpu);
		printf("  outside commands (event loop, I/O): %.0f%% of Redis CPU\n", 100 * (cpu - t) / cpu)}' |
	sort -t, -k4 -rn
if [ "$trace" = strace ]; then
	wait "$tpid" || true
	# the bridge's connection: the descriptor with the largest reads
	fd=$(awk '/^read/ {split($1, a, /[(,]/); if ($NF + 0 > m) {m = $NF + 0; f = a[2]}} END {print f}' \
		"$tmp/redis.strace")
	echo "Redis's reads from descriptor $fd in 3 s (bytes: count):"
	grep "^read($fd," "$tmp/redis.strace" | awk '{print $NF}' | sort -n | uniq -c |
		sort -rn | head -5 | awk '{print "  " $2 ": " $1}'
fi
