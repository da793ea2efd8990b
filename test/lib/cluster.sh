#!/usr/bin/env bash
# test/lib/cluster.sh -- throwaway PostgreSQL and Redis servers for tests,
# make demo and make bench.  Source it; every function prints nothing on
# success and exits the shell (with the server log) on failure.
#
#   w2q_free_port                      a free TCP port on 127.0.0.1
#   w2q_pg_start DIR [PORT]            initdb DIR/data, start on PORT (default: free),
#                                      sets W2Q_PGPORT, W2Q_PGHOST (=DIR, the socket dir)
#   w2q_pg_stop DIR                    stop it (immediate)
#   w2q_redis_start DIR [PORT]         start redis-server, sets W2Q_REDIS_PORT
#   w2q_redis_stop DIR
#   w2q_as_pg CMD...                   run CMD as the postgres user when we are root
#
# initdb and postgres refuse to run as root: as root, servers run as the
# "postgres" system user and DIR is handed to it.

W2Q_PGBIN=${W2Q_PGBIN:-$(pg_config --bindir)}

w2q_free_port()
{
	perl -MIO::Socket::INET -e \
		'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1)->sockport, "\n"'
}

w2q_as_pg()
{
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

w2q_pg_start()
{
	local dir=$1 port=${2:-$(w2q_free_port)}
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	w2q_as_pg "$W2Q_PGBIN/initdb" -D "$dir/data" -A trust -U postgres \
		--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
output_plugin_libraries = 'pgoutput, test_decoding, wal2queue'
fsync = off
full_page_writes = off
shared_buffers = 256MB
max_wal_size = 4GB
log_min_messages = warning
CONF
	w2q_as_pg "$W2Q_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
		-t 60 start >/dev/null || { cat "$dir/postgres.log"; exit 1; }
	W2Q_PGPORT=$port
	W2Q_PGHOST=$dir
	export W2Q_PGPORT W2Q_PGHOST
}

w2q_pg_stop()
{
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] &&
		w2q_as_pg "$W2Q_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	return 0
}

w2q_redis_start()
{
	local dir=$1 port=${2:-$(w2q_free_port)}
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		--daemonize yes || exit 1
	for _ in $(seq 50); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$port" ping >/dev/null || { cat "$dir/redis.log"; exit 1; }
	W2Q_REDIS_PORT=$port
	export W2Q_REDIS_PORT
}

w2q_redis_stop()
{
	local dir=$1
	[ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
	return 0
}
