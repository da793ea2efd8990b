#!/usr/bin/env bash
# test/bench/run.sh -- `make bench`: wal2queue against its peers.
#
# Starts its own PostgreSQL, Redis and Kafka mock in a temporary directory,
# runs every scenario (see README.md) several times, prints markdown tables
# (median and min-max of the runs, each figure beside its peers as a ratio)
# and writes them to test/bench/results/latest.md.
#
#   BENCH_QUICK=1   a one-minute smoke run: one run each, small sizes
#   BENCH_ONLY      the scenarios to run, e.g. "1 2" (default: 1 2 3 4 5 6;
#                   5 takes the bridge's figures from 2)
#   BENCH_JOBS      the job inserts of scenarios 1 and 2 (default: 1,000,000;
#                   50,000 with BENCH_QUICK)
#   W2Q_BRIDGE      the bridge binary (default: bridge/wal2queue-bridge)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/cluster.sh
. "$root/test/lib/cluster.sh"
bridge=${W2Q_BRIDGE:-$root/bridge/wal2queue-bridge}
kafka_mock=$root/test/helpers/kafka-mock
only=" ${BENCH_ONLY:-1 2 3 4 5 6} "

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	runs=1 jobs=50000 lat_secs=5 queue_secs=5 workers_list="8"
	wal_jobs=10000 wal_single=500 keep_secs=6 keep_workers=32
else
	runs=3 jobs=1000000 lat_secs=20 queue_secs=15 workers_list="8 32 64"
	wal_jobs=100000 wal_single=2500 keep_secs=20 keep_workers=256
fi
jobs=${BENCH_JOBS:-$jobs}		# scenarios 1 and 2: how many job inserts
sample=$((jobs / 20))			# jobs whose output is measured for bytes/job
rate=2000						# latency scenario: transactions per second
prefill=10000					# queue scenario: jobs waiting at the start
producers=4						# queue scenario: producer connections

make -s -C "$here" consumer
consumer=$here/consumer
[ -x "$bridge" ] || { echo "bench: $bridge not found (make -C bridge)" >&2; exit 1; }

started=$(date +%s)
tmp=$(mktemp -d /tmp/wal2queue-bench.XXXXXX)
chmod 755 "$tmp"
raw=$tmp/raw.tsv
: >"$raw"
bridge_pid=
kafka_pid=
cleanup()
{
	local rc=$?

	[ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null
	[ -n "$kafka_pid" ] && kill "$kafka_pid" 2>/dev/null && wait "$kafka_pid" 2>/dev/null
	w2q_redis_stop "$tmp/redis"
	w2q_pg_stop "$tmp/pg"
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/*.log "$tmp"/pg/postgres.log; do
			[ -s "$f" ] && { echo "== $f"; tail -n 20 "$f"; }
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- servers and clients --------------------------------------------------

w2q_pg_start "$tmp/pg"
cat >>"$tmp/pg/data/postgresql.conf" <<CONF
output_plugin_libraries = 'pgoutput, test_decoding, wal2queue, wal2json'
max_replication_slots = 40
max_connections = 150
timezone = 'UTC'
CONF
w2q_as_pg "$W2Q_PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/postgres.log" -w \
	-t 60 restart >/dev/null
w2q_redis_start "$tmp/redis"
export PGHOST=$W2Q_PGHOST PGPORT=$W2Q_PGPORT PGUSER=postgres PGDATABASE=postgres
conninfo="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
rcli() { redis-cli -p "$W2Q_REDIS_PORT" "$@"; }
now_ns() { date +%s%N; }
want() { [[ $only == *" $1 "* ]]; }

sql -f "$here/bench.sql"
schema()
{
	PGOPTIONS="-c client_min_messages=warning" sql -v prefill="$1" \
		-f "$here/skiplocked/schema.sql"
}

# pgbench's count of transactions from its output file
pgbench_count() { awk -F'[:/ ]+' '/actually processed/ {print $6}' "$1"; }

# start the bridge on slot $1 into sink $2 (more options follow)
start_bridge()
{
	local slot=$1 sink=$2

	shift 2
	"$bridge" -d "$conninfo" --slot "$slot" --sink "$sink" --tables public.jobs \
		--route-column queue "$@" 2>>"$tmp/bridge.log" &
	bridge_pid=$!
}

stop_bridge()
{
	kill "$bridge_pid"
	wait "$bridge_pid" || { echo "bench: the bridge failed" >&2; exit 1; }
	bridge_pid=
}

# wait until slot $2 is streaming to a client ($1 = 1) or is not ($1 = 0)
wait_slot()
{
	local want=$1 slot=$2

	for _ in $(seq 100); do
		[ "$(sql -c "SELECT count(*) FROM pg_replication_slots
			WHERE slot_name = '$slot' AND active")" = "$want" ] && return 0
		sleep 0.1
	done
	echo "bench: slot $slot did not become active=$want" >&2
	exit 1
}

drop_slot()
{
	wait_slot 0 "$1"
	sql -c "SELECT pg_drop_replication_slot('$1')" >/dev/null
}

wait_xlen()
{
	for _ in $(seq 200); do
		[ "$(rcli XLEN default)" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "bench: the stream did not reach $1 entries" >&2
	exit 1
}

# CPU seconds and peak RSS (kB) of a running process
proc_cpu()
{
	awk -v tck="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / tck}' \
		"/proc/$1/stat"
}
proc_hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# --- results ----------------------------------------------------------------

record() { printf '%s\t%s\n' "$1" "$2" >>"$raw"; }

# "MEDIAN MIN MAX" of KEY's values, nothing without any
stats()
{
	awk -F'\t' -v k="$1" '$1 == k {print $2}' "$raw" | sort -g |
		awk '{v[NR] = $1}
			END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR]}'
}

med() { stats "$1" | cut -d' ' -f1; }

# VALUE formatted as KIND: rate, int, bytes (a size), us (as ms), kb (as MiB), secs
fmt()
{
	awk -v kind="$1" -v v="$2" 'BEGIN {
		if ((kind == "rate" || kind == "int") && v >= 1000000)
			s = sprintf("%.2fM", v / 1000000)
		else if ((kind == "rate" || kind == "int") && v >= 100000)
			s = sprintf("%.0fk", v / 1000)
		else if ((kind == "rate" || kind == "int") && v >= 10000)
			s = sprintf("%.1fk", v / 1000)
		else if (kind == "rate" && v >= 1000)
			s = sprintf("%.2fk", v / 1000)
		else if (kind == "bytes" && v >= 1048576)
			s = sprintf("%.0f MiB", v / 1048576)
		else if (kind == "bytes")
			s = sprintf("%.0f kiB", v / 1024)
		else if (kind == "us")
			s = sprintf("%.2f ms", v / 1000)
		else if (kind == "kb")
			s = sprintf("%.1f MiB", v / 1024)
		else if (kind == "secs")
			s = sprintf("%.2f s", v)
		else
			s = sprintf("%.0f", v)
		print s
	}'
}

# KEY as "median (min–max)" in KIND, "—" without values
cell()
{
	local m lo hi

	read -r m lo hi <<<"$(stats "$1")" || true
	if [ -z "${m:-}" ]; then
		echo "—"
	elif [ "$runs" = 1 ]; then
		fmt "$2" "$m"
	else
		echo "$(fmt "$2" "$m") ($(fmt "$2" "$lo")–$(fmt "$2" "$hi"))"
	fi
}

# 1000000 as 1,000,000
commas() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }

# A / B as "1.23×", "—" when either is missing
ratio()
{
	if [ -z "$1" ] || [ -z "$2" ]; then
		echo "—"
		return
	fi
	awk -v a="$1" -v b="$2" 'BEGIN {print (b > 0 ? sprintf("%.2f×", a / b) : "—")}'
}

# --- 1 and 2: decode and end to end, from one WAL ----------------------------

decoders=("wal2queue binary" "wal2queue json" "wal2json v1" "wal2json v2"
	"test_decoding" "pgoutput" "floor: every table filtered out")
plugins=(wal2queue wal2queue wal2json wal2json test_decoding pgoutput wal2queue)
options=("" "format=json" "format-version=1" "format-version=2" ""
	"proto_version=1,publication_names=bench_pub" "tables=nothing.nothing")
peers="2 3 4 5"					# the indexes of the other projects' decoders

# drain slot $1 of decoder $2 with pg_recvlogical up to $end_lsn
drain()
{
	local slot=$1 i=$2 o kv t0 t1 cpu
	local args=(-d "$conninfo" -S "$slot" --start -E "$end_lsn" -f /dev/null -F 0 --no-loop)

	IFS=, read -ra o <<<"${options[$i]}"
	for kv in "${o[@]}"; do args+=(-o "$kv"); done
	t0=$(now_ns)
	cpu=$( (pg_recvlogical "${args[@]}" 2>>"$tmp/recvlogical.log" || exit 1; times) |
		awk 'NR == 2 {split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2]}')
	t1=$(now_ns)
	record "decode/$i/rate" "$(awk -v n="$jobs" -v ns=$((t1 - t0)) 'BEGIN {print n * 1e9 / ns}')"
	record "decode/$i/cpu" "$(awk -v c="$cpu" -v n="$jobs" 'BEGIN {print c * 1e6 / n}')"
}

# bytes of output per job for the first $sample jobs, with the SQL function
output_bytes()
{
	local slot=$1 i=$2 arr

	arr=$(awk -v o="${options[$i]}" 'BEGIN {n = split(o, kv, /[,=]/);
		for (j = 1; j <= n; j++) printf "%s\"%s\"", (j > 1 ? "," : ""), kv[j]}')
	sql -c "SELECT coalesce(sum(octet_length(data)), 0) / $sample.0
		FROM pg_logical_slot_peek_binary_changes('$slot', '$sample_lsn', NULL,
			VARIADIC '{$arr}'::text[])"
}

# deliver the jobs from slot $2 to sink $3 and record it as sink $1
end_to_end()
{
	local name=$1 slot=$2 sink=$3 t0 t1 ok

	shift 3
	t0=$(now_ns)
	# the slot was created in SQL before the inserts: its first run says so
	start_bridge "$slot" "$sink" --accept-new-source "$@"
	ok=$(sql -c "SELECT bench_wait_confirmed('$slot', '$end_lsn', 600)")
	t1=$(now_ns)
	if [ "$ok" != t ]; then
		kill "$bridge_pid" 2>/dev/null
		wait "$bridge_pid" 2>/dev/null
		bridge_pid=
		return 1
	fi
	record "e2e/$name/rate" "$(awk -v n="$jobs" -v ns=$((t1 - t0)) 'BEGIN {print n * 1e9 / ns}')"
	record "e2e/$name/cpu" "$(awk -v c="$(proc_cpu "$bridge_pid")" -v n="$jobs" 'BEGIN {print c * 1e6 / n}')"
	record "e2e/$name/rss" "$(proc_hwm "$bridge_pid")"
	stop_bridge
}

# why Kafka cannot run, or nothing
kafka_reason()
{
	if [ ! -x "$kafka_mock" ] && [ -f "$root/test/helpers/Makefile" ]; then
		make -s -C "$root/test/helpers" kafka-mock >"$tmp/kafka-build.log" 2>&1 || true
	fi
	[ -x "$kafka_mock" ] || echo "test/helpers/kafka-mock is not available"
}

# a Kafka mock cluster with the topic "default" of 64 partitions
start_kafka()
{
	local reply

	coproc KAFKA { exec "$kafka_mock" 2>>"$tmp/kafka.log"; }
	kafka_pid=$!
	exec {kafka_in}>&"${KAFKA[1]}" {kafka_out}<&"${KAFKA[0]}"
	read -r -t 10 -u "$kafka_out" kafka_brokers || return 1
	echo "create default 64" >&"$kafka_in"
	read -r -t 10 -u "$kafka_out" reply || return 1
	[ "$reply" = ok ]
}

stop_kafka()
{
	echo quit >&"$kafka_in"
	exec {kafka_in}>&- {kafka_out}<&-
	wait "$kafka_pid" || true
	kafka_pid=
}

if want 1 || want 2; then
	echo "== 1, 2: $jobs job inserts, decoded $runs times by each decoder and the bridge" >&2
	schema 0
	sql -c "ALTER TABLE jobs SET (autovacuum_enabled = false)" \
		-c "CREATE PUBLICATION bench_pub FOR TABLE jobs"
	kafka_not_run=$(kafka_reason)
	for r in $(seq "$runs"); do
		for i in "${!decoders[@]}"; do
			sql -c "SELECT FROM pg_create_logical_replication_slot('d${i}_$r', '${plugins[$i]}')"
		done
		sql -c "SELECT FROM pg_create_logical_replication_slot('redis_$r', 'wal2queue')" \
			-c "SELECT FROM pg_create_logical_replication_slot('kafka_$r', 'wal2queue')" \
			-c "SELECT FROM pg_create_logical_replication_slot('pgo_redis_$r', 'pgoutput')" \
			-c "SELECT FROM pg_create_logical_replication_slot('pgo_kafka_$r', 'pgoutput')"
	done
	sql -c "CALL bench_insert($sample, 1000)"
	sample_lsn=$(sql -c "SELECT pg_current_wal_insert_lsn()")
	sql -c "CALL bench_insert($((jobs - sample - 1000)), 1000)"
	end_lsn=$(sql -c "SELECT pg_current_wal_insert_lsn()")
	sql -c "CALL bench_insert(1000, 1000)"
	# the end of the last commit record: what the bridge confirms last
	end_lsn=$(sql -c "SELECT max(end_lsn) FROM pg_get_wal_records_info('$end_lsn',
		pg_current_wal_flush_lsn()) WHERE record_type = 'COMMIT'")
	sql -c "CHECKPOINT"
	for i in "${!decoders[@]}"; do
		record "decode/$i/bytes" "$(output_bytes "d${i}_1" "$i")"
	done
	for r in $(seq "$runs"); do
		if want 1; then
			for i in "${!decoders[@]}"; do drain "d${i}_$r" "$i"; done
		fi
		if want 2; then
			# the plugin mode, then --plugin=pgoutput on the same WAL into the same sink
			for mode in "" _pgoutput; do
				pgo=()
				[ -z "$mode" ] || pgo=(--plugin=pgoutput --publication=bench_pub)
				slot_prefix=${mode:+pgo_}
				rcli FLUSHALL >/dev/null
				end_to_end "redis$mode" "${slot_prefix}redis_$r" "redis://127.0.0.1:$W2Q_REDIS_PORT" \
					--redis-group workers "${pgo[@]}"
				[ "$(rcli XLEN default)" = "$jobs" ] || { echo "bench: Redis has $(rcli XLEN default) entries" >&2; exit 1; }
				rcli FLUSHALL >/dev/null
				# a fresh mock cluster each time: a topic is written by one slot
				if [ -z "$kafka_not_run" ]; then
					start_kafka || kafka_not_run="kafka-mock did not start"
				fi
				if [ -z "$kafka_not_run" ]; then
					end_to_end "kafka$mode" "${slot_prefix}kafka_$r" "kafka://$kafka_brokers" "${pgo[@]}" ||
						kafka_not_run="the bridge did not deliver: $(tail -n 1 "$tmp/bridge.log")"
				fi
				[ -z "$kafka_pid" ] || stop_kafka
			done
		fi
	done
	sql -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
fi

# --- 3: latency ---------------------------------------------------------------

if want 3; then
	echo "== 3: latency at $rate transactions/s, $runs × $lat_secs s" >&2
	schema 0
	for r in $(seq "$runs"); do
		rcli FLUSHALL >/dev/null
		start_bridge "lat_$r" "redis://127.0.0.1:$W2Q_REDIS_PORT" --create-slot --redis-group workers
		wait_slot 1 "lat_$r"
		"$consumer" -p "$W2Q_REDIS_PORT" -l -t $((lat_secs + 2)) >"$tmp/consumer.out" &
		pgbench -n -f "$here/latency_producer.pgb" --rate=$rate -T "$lat_secs" -c 4 -j 2 \
			>"$tmp/pgbench.log" 2>&1
		wait $!
		stop_bridge
		drop_slot "lat_$r"
		read -r _ p50 p99 max < <(grep latency_us "$tmp/consumer.out")
		record lat/w2q/p50 "$p50"
		record lat/w2q/p99 "$p99"
		record lat/w2q/max "$max"
		record lat/w2q/rate "$(awk '/^tps/ {print $3}' "$tmp/pgbench.log")"
		# the peer: Redis alone, XADD at the same rate
		rcli FLUSHALL >/dev/null
		"$consumer" -p "$W2Q_REDIS_PORT" -l -r $rate -t "$lat_secs" >"$tmp/consumer.out"
		read -r _ p50 p99 max < <(grep latency_us "$tmp/consumer.out")
		record lat/redis/p50 "$p50"
		record lat/redis/p99 "$p99"
		record lat/redis/max "$max"
		record lat/redis/rate "$(awk -v n="$(awk '/^completed/ {print $2}' "$tmp/consumer.out")" \
			-v t="$lat_secs" 'BEGIN {print n / t}')"
	done
fi

# --- 4: the job queue -----------------------------------------------------------

# run producers (pgbench script $1) and the workers (command $2...) for
# $queue_secs seconds, with synchronous_commit off; record as $key
queue_run()
{
	local script=$1

	shift
	PGOPTIONS="-c synchronous_commit=off" pgbench -n -f "$script" -T "$queue_secs" \
		-c $producers -j 1 >"$tmp/producers.log" 2>&1 &
	PGOPTIONS="-c synchronous_commit=off" "$@" >"$tmp/workers.out" 2>&1
	wait $!
	record "$key/produced" "$(awk -v n="$(pgbench_count "$tmp/producers.log")" \
		-v t="$queue_secs" 'BEGIN {print n / t}')"
}

# the wait events of the active sessions named bench_worker, one a line,
# sampled every 50 ms for $1 seconds, each sample its own short transaction
# (a long one would hold back the xmin horizon and slow the queue down)
sample_waits()
{
	for _ in $(seq $(($1 * 20))); do
		echo "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
			FROM pg_stat_activity WHERE application_name = 'bench_worker'
			AND state = 'active';"
		echo "SELECT pg_sleep(0.05);"
	done | sql | grep -v '^$' || true
}

table_stats()
{
	local dead size

	sleep 1						# the backends' statistics reach pg_stat
	read -r dead size < <(sql -F ' ' -c "SELECT n_dead_tup, pg_total_relation_size('jobs')
		FROM pg_stat_user_tables WHERE relname = 'jobs'")
	record "$key/dead" "$dead"
	record "$key/size" "$size"
}

# wal2queue: the bridge with a new slot, prefill with $1, then queue_run
wal2queue_run()
{
	local fill=$1 script=$2 n=$3

	schema 0
	rcli FLUSHALL >/dev/null
	start_bridge queue "redis://127.0.0.1:$W2Q_REDIS_PORT" --create-slot --redis-group workers
	wait_slot 1 queue
	sql -c "CALL $fill($prefill, $prefill)"
	wait_xlen $prefill
	queue_run "$script" "$consumer" -p "$W2Q_REDIS_PORT" -n "$n" -c 1 -t "$queue_secs"
	record "$key/completed" "$(awk -v t="$queue_secs" '/^completed/ {print $2 / t}' "$tmp/workers.out")"
	record "$key/delivered" "$(( ($(rcli XLEN default) - prefill) / queue_secs ))"
	table_stats
	stop_bridge
	drop_slot queue
}

if want 4; then
	echo "== 4: job queue, $runs × $queue_secs s for N = $workers_list workers" >&2
	for r in $(seq "$runs"); do
		for n in $workers_list; do
			key=queue/$n/a
			schema $prefill
			sample_waits "$queue_secs" >"$tmp/waits.out" &
			waits_pid=$!
			queue_run "$here/skiplocked/producer.pgb" \
				env PGAPPNAME=bench_worker pgbench -n -f "$here/skiplocked/consumer_complete.pgb" \
				-T "$queue_secs" -c "$n" -j 2
			wait $waits_pid
			while read -r samples event; do
				record "$key/wait/$event" "$samples"
			done < <(sort "$tmp/waits.out" | uniq -c)
			record "$key/completed" "$(sql -c "SELECT count(*) / $queue_secs.0
				FROM jobs WHERE status = 'completed'")"
			table_stats

			key=queue/$n/insert
			wal2queue_run bench_insert "$here/skiplocked/producer.pgb" "$n"
			key=queue/$n/send
			wal2queue_run bench_send "$here/send_producer.pgb" "$n"
		done
	done
fi

# --- 5: WAL per job ---------------------------------------------------------

# WAL bytes per job of the command $3... making $2 jobs, recorded as $1
wal_per_job()
{
	local before

	before=$(sql -c "SELECT pg_current_wal_insert_lsn()")
	"${@:3}" >>"$tmp/pgbench.log" 2>&1
	record "wal/$1" "$(sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(),
		'$before') / $2")"
}

if want 5; then
	echo "== 5: WAL per job, $runs times" >&2
	schema 0
	for r in $(seq "$runs"); do
		wal_per_job insert_batch "$wal_jobs" sql -c "CALL bench_insert($wal_jobs, 1000)"
		wal_per_job send_batch "$wal_jobs" sql -c "CALL bench_send($wal_jobs, 1000)"
		wal_per_job insert_single $((4 * wal_single)) pgbench -n -c 4 -j 1 \
			-t "$wal_single" -f "$here/skiplocked/producer.pgb"
		wal_per_job send_single $((4 * wal_single)) pgbench -n -c 4 -j 1 \
			-t "$wal_single" -f "$here/send_producer.pgb"
	done
fi

# --- 6: keeping up with unthrottled producers -------------------------------

# slot lag in bytes (current WAL − confirmed_flush_lsn) of slot $1
slot_lag()
{
	sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = '$1'"
}

if want 6; then
	echo "== 6: keeping up, $runs × $keep_secs s, $producers producers, $keep_workers workers" >&2
	for r in $(seq "$runs"); do
		key=keep
		schema 0
		rcli FLUSHALL >/dev/null
		start_bridge keep "redis://127.0.0.1:$W2Q_REDIS_PORT" --create-slot --redis-group workers
		wait_slot 1 keep
		"$consumer" -p "$W2Q_REDIS_PORT" -n "$keep_workers" -c 1 -t $((keep_secs + 2)) \
			>"$tmp/workers.out" 2>&1 &
		workers_pid=$!
		rcli CONFIG RESETSTAT >/dev/null
		PGOPTIONS="-c synchronous_commit=off" pgbench -n -f "$here/skiplocked/producer.pgb" \
			-T "$keep_secs" -c $producers -j 1 >"$tmp/producers.log" 2>&1 &
		producers_pid=$!
		: >"$tmp/lag.out"
		for s in $(seq "$keep_secs"); do
			sleep 1
			echo "$s $(slot_lag keep)" >>"$tmp/lag.out"
		done
		wait $producers_pid
		x0=$(rcli XLEN default)
		# the bridge's deliver calls (FCALL) so far: transactions per call
		calls=$(rcli INFO commandstats | sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),.*/\1/p')
		record keep/per_call "$(awk -v n="$x0" -v c="${calls:-0}" 'BEGIN {print (c > 0 ? n / c : 0)}')"
		t0=$(now_ns)
		end_lsn=$(sql -c "SELECT pg_current_wal_lsn()")
		until [ "$(sql -c "SELECT confirmed_flush_lsn >= '$end_lsn' FROM pg_replication_slots
			WHERE slot_name = 'keep'")" = t ]; do sleep 0.05; done
		record keep/drain_secs "$(awk -v ns=$(($(now_ns) - t0)) 'BEGIN {print ns / 1e9}')"
		wait $workers_pid || true
		produced=$(pgbench_count "$tmp/producers.log")
		record keep/produced "$(awk -v n="$produced" -v t="$keep_secs" 'BEGIN {print n / t}')"
		record keep/delivered "$(awk -v n="$x0" -v t="$keep_secs" 'BEGIN {print n / t}')"
		# lag over the first and the second half of the run
		record keep/lag1 "$(awk -v h=$((keep_secs / 2)) '$1 <= h && $2 > m {m = $2} END {print m + 0}' "$tmp/lag.out")"
		record keep/lag2 "$(awk -v h=$((keep_secs / 2)) '$1 > h && $2 > m {m = $2} END {print m + 0}' "$tmp/lag.out")"
		stop_bridge
		drop_slot keep
	done
fi

# --- the tables -------------------------------------------------------------

report()
{
	local fastest=0 fastest_name smallest=0 base m b vm

	vm=$(lscpu | sed -n 's/^Hypervisor vendor: *\(.*\)/ (\1 guest)/p')
	echo "## wal2queue benchmark"
	echo
	echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores$vm," \
		"$(free -g | awk '/^Mem/ {print $2}') GiB RAM, Linux $(uname -r);" \
		"$("$W2Q_PGBIN/postgres" --version)," \
		"Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')," \
		"librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')." \
		"All servers and clients on that machine. PostgreSQL: fsync off, full_page_writes" \
		"off, shared_buffers 256MB. $runs run$([ "$runs" = 1 ] || echo s) of each" \
		"scenario, each figure the median (min–max) of them." \
		"$(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')."

	if want 1; then
		for i in $peers; do
			m=$(med "decode/$i/rate")
			b=$(med "decode/$i/bytes")
			if awk -v a="$m" -v b="$fastest" 'BEGIN {exit !(a > b)}'; then
				fastest=$m
				fastest_name=${decoders[$i]}
			fi
			if [ "$smallest" = 0 ] || awk -v a="$b" -v b="$smallest" 'BEGIN {exit !(a < b)}'; then
				smallest=$b
			fi
		done
		echo
		echo "### 1. Decode"
		echo
		echo "$(commas "$jobs") job inserts in transactions of 1,000 (the job table of" \
			"skiplocked/schema.sql, payload about 190 bytes), each decoder on its own slot over the" \
			"same WAL, drained by pg_recvlogical to /dev/null up to the end of the last commit." \
			"Bytes per job: the output for the first $(commas "$sample") jobs" \
			"(pg_logical_slot_peek_binary_changes). Ratios: rows/s ÷ the fastest other project's" \
			"decoder ($fastest_name); bytes ÷ the smallest other project's output."
		echo
		echo "| decoder | rows/s | vs fastest peer | bytes/job | vs smallest peer |"
		echo "|---|---:|---:|---:|---:|"
		for i in "${!decoders[@]}"; do
			b=$(med "decode/$i/bytes")
			echo "| ${decoders[$i]} | $(cell "decode/$i/rate" rate) |" \
				"$(ratio "$(med "decode/$i/rate")" "$fastest") |" \
				"$(fmt int "$b") | $(ratio "$b" "$smallest") |"
		done
	fi

	if want 2; then
		base=$(med decode/0/rate)
		echo
		echo "### 2. End to end"
		echo
		echo "The same $(commas "$jobs") jobs, the bridge started after the inserts, until the slot's" \
			"confirmed_flush_lsn reaches the LSN after the last commit. Ratio: jobs/s ÷ scenario 1's" \
			"pg_recvlogical drain of wal2queue binary (the bridge's own overhead)."
		echo
		echo "| path | jobs/s | vs raw drain |"
		echo "|---|---:|---:|"
		echo "| pg_recvlogical → /dev/null (wal2queue binary, scenario 1) | $(cell decode/0/rate rate) | 1.00× |"
		echo "| bridge → Redis Streams | $(cell e2e/redis/rate rate) | $(ratio "$(med e2e/redis/rate)" "$base") |"
		echo "| bridge --plugin=pgoutput → Redis Streams | $(cell e2e/redis_pgoutput/rate rate) | $(ratio "$(med e2e/redis_pgoutput/rate)" "$base") |"
		if [ -n "${kafka_not_run:-}" ]; then
			echo "| bridge → Kafka (librdkafka mock cluster, 64 partitions) | not run: $kafka_not_run | — |"
		else
			echo "| bridge → Kafka (librdkafka mock cluster, 64 partitions) | $(cell e2e/kafka/rate rate) | $(ratio "$(med e2e/kafka/rate)" "$base") |"
			echo "| bridge --plugin=pgoutput → Kafka (the same) | $(cell e2e/kafka_pgoutput/rate rate) | $(ratio "$(med e2e/kafka_pgoutput/rate)" "$base") |"
		fi
		echo
		pgo_ratio="Redis $(ratio "$(med e2e/redis_pgoutput/rate)" "$(med e2e/redis/rate)")"
		[ -n "${kafka_not_run:-}" ] ||
			pgo_ratio+=", Kafka $(ratio "$(med e2e/kafka_pgoutput/rate)" "$(med e2e/kafka/rate)")"
		echo "pgoutput mode ÷ plugin mode (same WAL, same sink, jobs/s): $pgo_ratio."
	fi

	if want 3; then
		echo
		echo "### 3. Latency"
		echo
		echo "$rate single-job transactions per second (pgbench --rate, 4 clients, $lat_secs s), each" \
			"row stamped created_at = clock_timestamp() in its INSERT; one XREADGROUP BLOCK consumer" \
			"takes receive time − created_at. Peer: a client XADDing to Redis at the same rate, the" \
			"same consumer (Redis alone, no PostgreSQL). Ratio: wal2queue ÷ Redis alone."
		echo
		echo "| path | jobs/s | p50 | p99 | max |"
		echo "|---|---:|---:|---:|---:|"
		echo "| commit → bridge → XREADGROUP | $(cell lat/w2q/rate rate) | $(cell lat/w2q/p50 us) | $(cell lat/w2q/p99 us) | $(cell lat/w2q/max us) |"
		echo "| XADD → XREADGROUP (Redis alone) | $(cell lat/redis/rate rate) | $(cell lat/redis/p50 us) | $(cell lat/redis/p99 us) | $(cell lat/redis/max us) |"
		echo "| ratio | | $(ratio "$(med lat/w2q/p50)" "$(med lat/redis/p50)") |" \
			"$(ratio "$(med lat/w2q/p99)" "$(med lat/redis/p99)") |" \
			"$(ratio "$(med lat/w2q/max)" "$(med lat/redis/max)") |"
	fi

	if want 4; then
		echo
		echo "### 4. The job queue"
		echo
		echo "$producers producers (pgbench, one job per transaction) and N workers for $queue_secs s," \
			"$(commas "$prefill") jobs waiting at the start, synchronous_commit off. (a) SKIP LOCKED:" \
			"skiplocked/consumer_complete.pgb (claim with UPDATE … FOR UPDATE SKIP LOCKED LIMIT 1," \
			"then UPDATE … status = 'completed'). (b) wal2queue: the bridge into Redis, N worker" \
			"connections each claiming one entry with XREADGROUP COUNT 1 and XACKing it; jobs from" \
			"skiplocked/producer.pgb inserts, or from send_producer.pgb (wal2queue.send(), no row)." \
			"Completed: status = 'completed' rows (a), XACKed entries (b), per second. Dead tuples and" \
			"size (with indexes) of the job table at the end. Delivered: entries the bridge added to" \
			"the stream during the run, per second. Waits: share of (a)'s active workers'" \
			"samples (pg_stat_activity every 50 ms), all runs. Ratio: completed ÷ (a) at the same N."
		echo
		echo "| N | queue | completed jobs/s | vs SKIP LOCKED | produced jobs/s | delivered to Redis | dead tuples | table size | top waits |"
		echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
		for n in $workers_list; do
			base=$(med "queue/$n/a/completed")
			for v in a insert send; do
				case $v in
					a) label="(a) SKIP LOCKED" ;;
					insert) label="(b) wal2queue, INSERT" ;;
					send) label="(b) wal2queue, send()" ;;
				esac
				echo "| $n | $label | $(cell "queue/$n/$v/completed" rate) |" \
					"$(ratio "$(med "queue/$n/$v/completed")" "$base") |" \
					"$(cell "queue/$n/$v/produced" rate) | $(cell "queue/$n/$v/delivered" rate) |" \
					"$(cell "queue/$n/$v/dead" int) |" \
					"$(cell "queue/$n/$v/size" bytes) | $(top_waits "queue/$n/$v/wait/") |"
			done
		done
	fi

	if want 5; then
		echo
		echo "### 5. Resources"
		echo
		if want 2; then
			base=$(med decode/0/cpu)
			echo "CPU seconds per million jobs and peak RSS of the client draining the slot, in scenarios" \
				"1 and 2. Ratio: CPU ÷ pg_recvlogical's."
			echo
			echo "| client | CPU s / 1M jobs | vs pg_recvlogical | peak RSS |"
			echo "|---|---:|---:|---:|"
			echo "| pg_recvlogical → /dev/null (wal2queue binary) | $(cell decode/0/cpu secs) | 1.00× | — |"
			echo "| bridge → Redis Streams | $(cell e2e/redis/cpu secs) | $(ratio "$(med e2e/redis/cpu)" "$base") | $(cell e2e/redis/rss kb) |"
			echo "| bridge --plugin=pgoutput → Redis Streams | $(cell e2e/redis_pgoutput/cpu secs) | $(ratio "$(med e2e/redis_pgoutput/cpu)" "$base") | $(cell e2e/redis_pgoutput/rss kb) |"
			if [ -z "${kafka_not_run:-}" ]; then
				echo "| bridge → Kafka | $(cell e2e/kafka/cpu secs) | $(ratio "$(med e2e/kafka/cpu)" "$base") | $(cell e2e/kafka/rss kb) |"
				echo "| bridge --plugin=pgoutput → Kafka | $(cell e2e/kafka_pgoutput/cpu secs) | $(ratio "$(med e2e/kafka_pgoutput/cpu)" "$base") | $(cell e2e/kafka_pgoutput/rss kb) |"
			fi
			echo
		fi
		echo "PostgreSQL WAL bytes per job (pg_current_wal_insert_lsn before and after;" \
			"full_page_writes off). Ratio: send() ÷ INSERT into the job table."
		echo
		echo "| jobs per transaction | INSERT into the job table | wal2queue.send() | send ÷ INSERT |"
		echo "|---|---:|---:|---:|"
		echo "| 1,000 ($(commas "$wal_jobs") jobs) | $(cell wal/insert_batch int) | $(cell wal/send_batch int) |" \
			"$(ratio "$(med wal/send_batch)" "$(med wal/insert_batch)") |"
		echo "| 1 ($(commas $((4 * wal_single))) jobs, 4 clients) | $(cell wal/insert_single int) | $(cell wal/send_single int) |" \
			"$(ratio "$(med wal/send_single)" "$(med wal/insert_single)") |"
	fi
	if want 6; then
		echo
		echo "### 6. Keeping up with the producers"
		echo
		echo "$producers unthrottled pgbench producers, one job per transaction" \
			"(skiplocked/producer.pgb, synchronous_commit off), for $keep_secs s, the bridge into" \
			"Redis with $keep_workers workers claiming (XREADGROUP COUNT 1 + XACK). Delivered: entries" \
			"in the stream when the producers stop, per second of the run. Slot lag: the largest" \
			"pg_current_wal_lsn − confirmed_flush_lsn sampled every second, in the first and in" \
			"the second half of the run (flat: the bridge keeps up). Drain: from the producers'" \
			"end until the slot confirms the last commit. Ratio: delivered ÷ produced. Per call:" \
			"transactions delivered per Redis function call (FCALL) while the producers ran."
		echo
		echo "| produced jobs/s | delivered jobs/s | delivered ÷ produced | slot lag, 1st half | slot lag, 2nd half | drain | per call |"
		echo "|---:|---:|---:|---:|---:|---:|---:|"
		echo "| $(cell keep/produced rate) | $(cell keep/delivered rate) |" \
			"$(ratio "$(med keep/delivered)" "$(med keep/produced)") |" \
			"$(cell keep/lag1 bytes) | $(cell keep/lag2 bytes) | $(cell keep/drain_secs secs) |" \
			"$(cell keep/per_call int) |"
	fi
	echo
	echo "Total wall time: $(( $(date +%s) - started )) s."
}

# the three most sampled wait events under PREFIX, with their share
top_waits()
{
	awk -F'\t' -v p="$1" 'index($1, p) == 1 {n[substr($1, length(p) + 1)] += $2; t += $2}
		END {for (e in n) printf "%.0f%%\t%s\n", 100 * n[e] / t, e}' "$raw" |
		sort -rn | head -3 |
		awk -F'\t' '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1} END {if (!NR) printf "—"; print ""}'
}

mkdir -p "$here/results"
cp "$raw" "$here/results/raw.tsv"
report | tee "$here/results/latest.md"
