#!/usr/bin/env bash
# test/demo.sh -- `make demo`: one job end to end on throwaway servers.
# Starts PostgreSQL and Redis in a temporary directory on free ports,
# creates a job table and the slot, runs the bridge, inserts a few jobs in
# one transaction, reads them back through a consumer group (XREADGROUP),
# prints them and stops everything.
set -eu
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

echo "== starting PostgreSQL (wal_level=logical, wal2queue allow-listed) and Redis"
w2q_pg_start "$tmp/pg"
w2q_redis_start "$tmp/redis"
psql=(psql -X -q -h "$W2Q_PGHOST" -p "$W2Q_PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

echo "== creating the job table"
"${psql[@]}" -c "CREATE TABLE jobs (id bigserial PRIMARY KEY, queue text NOT NULL,
	payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"

echo "== starting the bridge: slot 'jobs', table public.jobs, streams named by queue"
"$bridge" -d "host=$W2Q_PGHOST port=$W2Q_PGPORT user=postgres dbname=postgres" \
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
echo "== slot confirmed: $("${psql[@]}" -Atc "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'jobs'")"
echo "demo finished: 3 jobs went PostgreSQL -> wal2queue -> Redis Streams -> a consumer group"
