#!/usr/bin/env bash
# test/bench/cpu_drain.sh -- CPU cost per job of a bulk drain into Redis,
# comparing bridge binaries run alternately on the same WAL.
#
#   test/bench/cpu_drain.sh [-n JOBS] [-t PER_TXN] [-r RUNS] [-x] [-c] NAME=BRIDGE...
#
# Starts its own PostgreSQL and Redis (test/lib/cluster.sh), inserts JOBS
# (default 200,000) job rows in transactions of PER_TXN (default 1,000; scenario 2's table
# and payload), then for each of RUNS rounds (default 3) drains a fresh slot
# of that WAL with pg_recvlogical (the raw drain) and with every BRIDGE in
# turn into Redis (emptied before each), and prints one line per drain:
#
#   NAME  jobs/s  bridge µs/job  walsender µs/job  Redis µs/job  FCALL µs/job  calls
#
# CPU from /proc/PID/stat (the bridge, the walsender serving it) and Redis's
# INFO cpu (used_cpu_user + used_cpu_sys) and commandstats: costs that the
# competition for the cores changes much less than wall-clock rates.  With
# -x, also a raw XADD pipeline of the same entries (redis-cli --pipe: what
# Redis spends on the entries alone, no function), the same in a MULTI/EXEC
# per transaction, and guarded by WATCH (xadd_pipe).  With -c, Redis runs
# under valgrind's callgrind and the Redis column is its instructions per
# job (callgrind_control zeroes and dumps the counts around each drain): a
# count that no competition for the cores changes, where CPU seconds on a
# loaded machine vary by half.  Then the medians per NAME.  W2Q_PGBIN
# chooses the PostgreSQL binaries (a private install's bin); bench.sql
# needs the wal2queue extension installed there.  W2Q_CG_KEEP=DIR keeps
# the callgrind dumps there (callgrind_annotate shows where Redis's
# instructions went).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=200000 runs=3 xadd=0 cg=0 per_txn=1000
while getopts n:t:r:xc o; do
	case $o in
	n) jobs=$OPTARG ;;
	t) per_txn=$OPTARG ;;
	r) runs=$OPTARG ;;
	x) xadd=1 ;;
	c) cg=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: cpu_drain.sh [-n JOBS] [-t PER_TXN] [-r RUNS] [-x] [-c] NAME=BRIDGE..." >&2; exit 2; }
# shellcheck source=../lib/cluster.sh
. "$root/test/lib/cluster.sh"
tmp=$(mktemp -d /tmp/wal2queue-cpudrain.XXXXXX)
chmod 755 "$tmp"
bpid= vgpid=
cleanup()
{
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null
	[ -n "$vgpid" ] && redis-cli -p "$W2Q_REDIS_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1
	wait 2>/dev/null
	[ -n "$vgpid" ] || w2q_redis_stop "$tmp/redis"
	w2q_pg_stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT

w2q_pg_start "$tmp/pg"
if [ "$cg" = 1 ]; then
	W2Q_REDIS_PORT=$(w2q_free_port)
	mkdir -p "$tmp/redis"
	valgrind --tool=callgrind --callgrind-out-file="$tmp/redis/cg.out" redis-server \
		--port "$W2Q_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/redis" \
		>/dev/null 2>"$tmp/redis/valgrind.log" &
	vgpid=$!
	for _ in $(seq 100); do
		redis-cli -p "$W2Q_REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.2
	done
else
	w2q_redis_start "$tmp/redis"
fi
export PGHOST=$W2Q_PGHOST PGPORT=$W2Q_PGPORT PGUSER=postgres PGDATABASE=postgres
conninfo="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
rcli() { redis-cli -p "$W2Q_REDIS_PORT" "$@"; }
now_ns() { date +%s%N; }
tck=$(getconf CLK_TCK)
proc_cpu() { awk -v tck="$tck" '{sub(/.*\) /, ""); print ($12 + $13) / tck}' "/proc/$1/stat"; }
# Redis's CPU seconds, or with -c its instructions (10^9) since the last call
redis_cpu()
{
	local f

	if [ "$cg" = 1 ]; then
		callgrind_control -d "$vgpid" >/dev/null 2>&1
		f=$(ls -t "$tmp"/redis/cg.out.* | head -1)
		callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1 / 1e9}'
		callgrind_control -z "$vgpid" >/dev/null 2>&1
		if [ -n "${W2Q_CG_KEEP:-}" ]; then mv "$f" "$W2Q_CG_KEEP/"; else rm -f "$f"; fi
	else
		rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {print s}'
	fi
}
# usec and calls of a command in INFO commandstats
cmdstat() { rcli INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),usec=\([0-9]*\),.*/\2 \1/p"; }

sql -f "$here/bench.sql" >/dev/null 2>&1
PGOPTIONS="-c client_min_messages=warning" sql -v prefill=0 -f "$here/skiplocked/schema.sql" >/dev/null
sql -c "ALTER TABLE jobs SET (autovacuum_enabled = false)"
nb=$#
for r in $(seq "$runs"); do
	sql -c "SELECT FROM pg_create_logical_replication_slot('raw_$r', 'wal2queue')"
	for b in $(seq "$nb"); do
		sql -c "SELECT FROM pg_create_logical_replication_slot('b${b}_$r', 'wal2queue')"
	done
done
sql -c "CALL bench_insert($((jobs - per_txn)), $per_txn)"
end_lsn=$(sql -c "SELECT pg_current_wal_insert_lsn()")
sql -c "CALL bench_insert($per_txn, $per_txn)"
end_lsn=$(sql -c "SELECT max(end_lsn) FROM pg_get_wal_records_info('$end_lsn',
	pg_current_wal_flush_lsn()) WHERE record_type = 'COMMIT'")
sql -c "CHECKPOINT"

out=$tmp/results
: >"$out"
line()
{
	printf '%-10s %9.0f %8.3f %8.3f %8.3f %8.3f %7s\n' "$@" | tee -a "$out"
}
printf '%-10s %9s %8s %8s %8s %8s %7s\n' name jobs/s bridge walsndr \
	"$([ "$cg" = 1 ] && echo "kinstr" || echo redis)" fcall calls

raw_drain()
{
	local t0 t1 cpu

	t0=$(now_ns)
	cpu=$( (pg_recvlogical -d "$conninfo" -S "raw_$1" --start -E "$end_lsn" -f /dev/null \
		-F 0 --no-loop || exit 1; times) |
		awk 'NR == 2 {split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2]}')
	t1=$(now_ns)
	line raw "$(awk -v n="$jobs" -v ns=$((t1 - t0)) 'BEGIN {print n * 1e9 / ns}')" \
		"$(awk -v c="$cpu" -v n="$jobs" 'BEGIN {print c * 1e6 / n}')" 0 0 0 -
}

bridge_drain()
{
	local name=$1 bin=$2 slot=$3 t0 t1 rc0 rc1 wpid ok fc

	rcli FLUSHALL >/dev/null
	rcli CONFIG RESETSTAT >/dev/null
	rc0=$(redis_cpu)
	t0=$(now_ns)
	"$bin" -d "$conninfo" --slot "$slot" --sink "redis://127.0.0.1:$W2Q_REDIS_PORT" \
		--tables public.jobs --route-column queue --accept-new-source \
		--redis-group workers 2>>"$tmp/bridge.log" &
	bpid=$!
	wpid=
	for _ in $(seq 200); do
		wpid=$(sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'")
		[ -n "$wpid" ] && break
		sleep 0.05
	done
	ok=$(sql -c "SELECT bench_wait_confirmed('$slot', '$end_lsn', 600)")
	t1=$(now_ns)
	[ "$ok" = t ] || { echo "cpu_drain: $name did not deliver" >&2; tail "$tmp/bridge.log" >&2; exit 1; }
	rc1=$(redis_cpu)
	[ "$cg" = 0 ] || rc0=0
	fc=$(cmdstat fcall)
	line "$name" "$(awk -v n="$jobs" -v ns=$((t1 - t0)) 'BEGIN {print n * 1e9 / ns}')" \
		"$(awk -v c="$(proc_cpu "$bpid")" -v n="$jobs" 'BEGIN {print c * 1e6 / n}')" \
		"$(awk -v c="$(proc_cpu "$wpid")" -v n="$jobs" 'BEGIN {print c * 1e6 / n}')" \
		"$(awk -v a="$rc0" -v b="$rc1" -v n="$jobs" 'BEGIN {print (b - a) * 1e6 / n}')" \
		"$(awk -v u="${fc% *}" -v n="$jobs" 'BEGIN {print u / n}')" "${fc#* }"
	kill "$bpid"
	wait "$bpid" || true
	bpid=
	[ "$(rcli XLEN default)" = "$jobs" ] || { echo "cpu_drain: Redis has $(rcli XLEN default) entries" >&2; exit 1; }
}

# the same entries as plain pipelined XADDs (fields as the bridge writes them);
# $1 = pipe: alone; multi: in a MULTI/EXEC per PER_TXN; watch: as multi, each
# after WATCH of a progress hash and the stream, an HMGET of the hash (the
# check) and with an HSET of it before EXEC (what a WATCH-guarded batch of
# plain XADDs would cost Redis)
xadd_pipe()
{
	local mode=$1 rc0 rc1 xs

	rcli FLUSHALL >/dev/null
	awk -v n="$jobs" -v m="$mode" -v t="$per_txn" 'BEGIN {
		p = "{\"meta\": {\"tags\": [\"a\", \"b\"], \"locale\": \"en-US\", \"source\": \"signup\"}, \"body\": \"lorem ipsum dolor sit amet consectetur adipiscing\", \"type\": \"send_email\", \"attempt\": 0, \"user_id\": 123456789, \"template\": \"welcome_v2\"}";
		split("XADD default * _lsn 0/1A2B3C4D _seq 1 id 1 queue default", a, " ");
		for (i = 1; i <= n; i++) {
			if (m == "watch" && i % t == 1)
				printf "*3\r\n$5\r\nWATCH\r\n$8\r\nw2q:prog\r\n$7\r\ndefault\r\n*3\r\n$5\r\nHMGET\r\n$8\r\nw2q:prog\r\n$3\r\nlsn\r\n";
			if (m != "pipe" && i % t == 1)
				printf "*1\r\n$5\r\nMULTI\r\n";
			printf "*17\r\n";
			printf "$4\r\nXADD\r\n$7\r\ndefault\r\n$1\r\n*\r\n$4\r\n_lsn\r\n$10\r\n0/1A2B3C4D\r\n";
			s = (i % 1000) + 1; printf "$4\r\n_seq\r\n$%d\r\n%d\r\n", length(s ""), s;
			printf "$2\r\nid\r\n$%d\r\n%d\r\n", length(i ""), i;
			printf "$5\r\nqueue\r\n$7\r\ndefault\r\n$7\r\npayload\r\n$%d\r\n%s\r\n", length(p), p;
			printf "$10\r\ncreated_at\r\n$29\r\n2026-11-30 12:00:00.123456+00\r\n";
			printf "$6\r\nstatus\r\n$7\r\npending\r\n";
			if (m == "watch" && (i % t == 0 || i == n))
				printf "*4\r\n$4\r\nHSET\r\n$8\r\nw2q:prog\r\n$3\r\nlsn\r\n$10\r\n0/1A2B3C4D\r\n";
			if (m != "pipe" && (i % t == 0 || i == n))
				printf "*1\r\n$4\r\nEXEC\r\n";
		}
	}' >"$tmp/xadd.resp"
	rcli CONFIG RESETSTAT >/dev/null
	rc0=$(redis_cpu)
	rcli --pipe <"$tmp/xadd.resp" >/dev/null
	rc1=$(redis_cpu)
	[ "$cg" = 0 ] || rc0=0
	xs=$(cmdstat xadd)
	line "xadd-$mode" 0 0 0 \
		"$(awk -v a="$rc0" -v b="$rc1" -v n="$jobs" 'BEGIN {print (b - a) * 1e6 / n}')" \
		"$(awk -v u="${xs% *}" -v n="$jobs" 'BEGIN {print u / n}')" "${xs#* }"
}

for r in $(seq "$runs"); do
	raw_drain "$r"
	b=0
	for spec in "$@"; do
		b=$((b + 1))
		bridge_drain "${spec%%=*}" "${spec#*=}" "b${b}_$r"
	done
	[ "$xadd" = 0 ] || { xadd_pipe pipe; xadd_pipe multi; xadd_pipe watch; }
done
echo "medians (µs per job; Redis: CPU µs, with -c thousands of instructions):"
for name in $(awk '{print $1}' "$out" | sort -u); do
	printf '%-10s' "$name"
	for col in 2 3 4 5 6; do
		awk -v n="$name" -v c="$col" '$1 == n {print $c}' "$out" | sort -g |
			awk '{v[NR] = $1} END {printf " %9.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
	done
	printf '\n'
done
