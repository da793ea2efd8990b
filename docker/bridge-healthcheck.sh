#!/bin/bash
# HEALTHCHECK of the wal2queue-bridge image. Healthy when the bridge's metrics
# (the image starts it with --metrics=0.0.0.0:9611) say that both the replication
# stream and the sink are connected: at least one wal2queue_up line, none at 0.
# bash only (its /dev/tcp): the slim image has no HTTP client.
port=${WAL2QUEUE_METRICS_PORT:-9611}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
metrics=$(grep '^wal2queue_up{' <&3) || exit 1
! grep -q ' 0$' <<<"$metrics"
