#!/usr/bin/env bash
# test/demo.sh -- `make demo`: one job end to end on throwaway servers.
# Starts PostgreSQL and Redis in a temporary directory on free ports,
# creates a job table and the slot, runs the bridge, inserts a few jobs in
# one transaction, reads them back through a consumer group (XREADGROUP),
# prints them and stops everything.
#
#   test/demo.sh [--plugin=pgoutput]
#
# With --plugin=pgoutput (make demo PLUGIN=pgoutput) the same demo runs as
# on a managed server: output_plugin_libraries is PostgreSQL's default (the
# wal2queue plugin is refused), the bridge connects as a role with
# REPLICATION and no superuser that owns the job table, and creates the
# publication along with the slot.
set -eu
plugin=wal2queue
for a in "$@"; do
	case $a in
		--plugin=wal2queue | --plugin=pgoutput) plugin=${a#--plugin=} ;;
		*)
			echo "usage: test/demo.sh [--plugin=wal2queue|pgoutput] (not \"$a\")" >&2
			exit 2
			;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib/cluster.sh"
bridge=${W2Q_BRIDGE:-$root/bridge/wal2queue-bridge}

tmp=$(mktemp -d /tmp/wal2queue-demo.XXXXXX)
chmod 755 "$tmp"
bridge_pid=
cleanup()
{
	[ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null
	w2q_redis_stop "$tmp/redis"
	w2q_pg_stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$plugin" = pgoutput ]; then
	echo "== starting PostgreSQL as a managed service runs it (wal_level=logical, only"
	echo "   pgoutput and test_decoding allowed as output plugins) and Redis"
	w2q_pg_start "$tmp/pg"
	echo "output_plugin_libraries = 'pgoutput, test_decoding'" >>"$tmp/pg/data/postgresql.conf"
	w2q_as_pg "$W2Q_PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/postgres.log" -w -t 60 \
		restart >/dev/null || { cat "$tmp/pg/postgres.log"; exit 1; }
else
	echo "== starting PostgreSQL (wal_level=logical, wal2queue allow-listed) and Redis"
	w2q_pg_start "$tmp/pg"
fi
w2q_redis_start "$tmp/redis"
psql=(psql -X -q -h "$W2Q_PGHOST" -p "$W2Q_PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

echo "== creating the job table"
"${psql[@]}" -c "CREATE TABLE jobs (id bigserial PRIMARY KEY, queue text NOT NULL,
	payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"

conninfo="host=$W2Q_PGHOST port=$W2Q_PGPORT user=postgres dbname=postgres"
source_args=()
if [ "$plugin" = pgoutput ]; then
	refused=$("${psql[@]}" -c "SELECT pg_create_logical_replication_slot('probe', 'wal2queue')" 2>&1) &&
		{ echo "the server accepted the wal2queue plugin: not a managed-service setup"; exit 1; }
	echo "== as on a managed service the server refuses the plugin: ${refused#ERROR:  }"
	echo "== a bridge role as on a managed service: LOGIN REPLICATION, no superuser, owns the table"
	"${psql[@]}" <<'SQL'
CREATE ROLE wal2queue_bridge LOGIN REPLICATION;
GRANT CREATE ON DATABASE postgres TO wal2queue_bridge;
ALTER TABLE jobs OWNER TO wal2queue_bridge;
SQL
	conninfo="host=$W2Q_PGHOST port=$W2Q_PGPORT user=wal2queue_bridge dbname=postgres"
	source_args=(--plugin=pgoutput --publication=wal2queue_jobs)
	echo "== starting the bridge on pgoutput: publication 'wal2queue_jobs' and slot 'jobs'"
	echo "   (--create-slot creates both), table public.jobs, streams named by queue"
else
	echo "== starting the bridge: slot 'jobs', table public.jobs, streams named by queue"
fi
"$bridge" -d "$conninfo" "${source_args[@]}" \
	--slot jobs --create-slot --tables public.jobs --route-column queue \
	--target-prefix 'jobs:' --redis-group workers \
	--sink "redis://127.0.0.1:$W2Q_REDIS_PORT" 2>"$tmp/bridge.log" &
bridge_pid=$!
for _ in $(seq 100); do
	active=$("${psql[@]}" -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active")
	[ "$active" = 1 ] && break
	sleep 0.1
done
[ "$active" = 1 ] || { cat "$tmp/bridge.log"; exit 1; }

echo "== inserting three jobs in one transaction"
"${psql[@]}" <<'SQL'
BEGIN;
INSERT INTO jobs (queue, payload) VALUES ('emails', '{"to": "ada@example.com", "template": "welcome"}');
INSERT INTO jobs (queue, payload) VALUES ('emails', '{"to": "grace@example.com", "template": "welcome"}');
INSERT INTO jobs (queue, payload) VALUES ('thumbnails', '{"image": 42, "size": "128x128"}');
COMMIT;
SQL

rcli=(redis-cli -p "$W2Q_REDIS_PORT")
for _ in $(seq 100); do
	n=$(( $("${rcli[@]}" XLEN jobs:emails) + $("${rcli[@]}" XLEN jobs:thumbnails) ))
	[ "$n" = 3 ] && break
	sleep 0.1
done
[ "$n" = 3 ] || { echo "jobs did not arrive"; cat "$tmp/bridge.log"; exit 1; }

echo "== a worker reads them: XREADGROUP GROUP workers demo-worker STREAMS jobs:emails jobs:thumbnails > >"
"${rcli[@]}" --no-raw XREADGROUP GROUP workers demo-worker COUNT 10 STREAMS jobs:emails jobs:thumbnails '>' '>'
echo "== and acknowledges them (XACK)"
for s in jobs:emails jobs:thumbnails; do
	for id in $("${rcli[@]}" XRANGE "$s" - + | grep -E '^[0-9]+-[0-9]+$'); do
		"${rcli[@]}" XACK "$s" workers "$id" >/dev/null
	done
done
echo "pending for the group: $("${rcli[@]}" XPENDING jobs:emails workers | head -1) (emails)"
echo "== slot confirmed: $("${psql[@]}" -Atc "SELECT plugin || ' ' || confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'jobs'")"
if [ "$plugin" = pgoutput ]; then
	echo "== the publication: $("${psql[@]}" -Atc "SELECT pubname || ' owned by ' || pubowner::regrole || ', inserts ' || pubinsert FROM pg_publication")"
	echo "demo finished: 3 jobs went PostgreSQL -> pgoutput -> wal2queue-bridge -> Redis Streams -> a consumer group"
else
	echo "demo finished: 3 jobs went PostgreSQL -> wal2queue -> Redis Streams -> a consumer group"
fi
