#!/bin/bash
# HEALTHCHECK of the wal2queue-bridge image. Asks the bridge's /healthz (the
# image starts it with --metrics=0.0.0.0:9611): 200 while it streams or stands
# by (--standby, another bridge holds the slot), 503 before its first
# connection, while it reconnects to PostgreSQL, and after a fatal error.
# bash only (its /dev/tcp): the slim image has no HTTP client.
port=${WAL2QUEUE_METRICS_PORT:-9611}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
read -r -t 5 _ status _ <&3 || exit 1
[ "$status" = 200 ]
