/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		Prometheus text at /metrics through libmicrohttpd, and the status
 *		line.
 *
 *-------------------------------------------------------------------------
 */
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

#define METRICS_BUFSIZE 8192

static struct MHD_Daemon *daemon_handle = NULL;
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static MetricsSnapshot current;

#define LSN_ARGS(lsn) (unsigned) ((lsn) >> 32), (unsigned) (lsn)

/* an output buffer that keeps what fits and stays terminated */
typedef struct Out
{
	char	   *buf;
	size_t		size;
	size_t		len;
} Out;

static void
out_printf(Out *o, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
out_printf(Out *o, const char *fmt,...)
{
	va_list		ap;
	int			k;

	if (o->len + 1 >= o->size)
		return;
	va_start(ap, fmt);
	k = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	o->len = (size_t) k >= o->size - o->len ? o->size - 1 : o->len + (size_t) k;
}

/* the delivery counters and gauges */
static void
format_delivery(Out *o, const MetricsSnapshot *m)
{
	out_printf(o,
			   "# HELP wal2queue_jobs_delivered_total Jobs the sink acknowledged.\n"
			   "# TYPE wal2queue_jobs_delivered_total counter\n"
			   "wal2queue_jobs_delivered_total{sink=\"%s\",slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_transactions_delivered_total Transactions delivered and confirmed.\n"
			   "# TYPE wal2queue_transactions_delivered_total counter\n"
			   "wal2queue_transactions_delivered_total{sink=\"%s\",slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_received_bytes_total Frame bytes read from the replication slot.\n"
			   "# TYPE wal2queue_received_bytes_total counter\n"
			   "wal2queue_received_bytes_total{slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_confirmed_lsn The LSN confirmed to the slot, as a number.\n"
			   "# TYPE wal2queue_confirmed_lsn gauge\n"
			   "wal2queue_confirmed_lsn{slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_lag_bytes WAL the server has sent past the confirmed LSN.\n"
			   "# TYPE wal2queue_lag_bytes gauge\n"
			   "wal2queue_lag_bytes{slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_lag_seconds Age of the oldest job in flight (commit time to now); 0 when none.\n"
			   "# TYPE wal2queue_lag_seconds gauge\n"
			   "wal2queue_lag_seconds{slot=\"%s\"} %.3f\n"
			   "# HELP wal2queue_last_delivered_commit_timestamp_seconds Commit time of the last delivered transaction.\n"
			   "# TYPE wal2queue_last_delivered_commit_timestamp_seconds gauge\n"
			   "wal2queue_last_delivered_commit_timestamp_seconds{slot=\"%s\"} %.6f\n"
			   "# HELP wal2queue_inflight_jobs Jobs handed to the sink and not yet acknowledged.\n"
			   "# TYPE wal2queue_inflight_jobs gauge\n"
			   "wal2queue_inflight_jobs{sink=\"%s\"} %llu\n"
			   "# HELP wal2queue_sink_errors_total Sink failures (each followed by a reconnect or a stop).\n"
			   "# TYPE wal2queue_sink_errors_total counter\n"
			   "wal2queue_sink_errors_total{sink=\"%s\"} %llu\n"
			   "# HELP wal2queue_reconnects_total Connections made again after a failure.\n"
			   "# TYPE wal2queue_reconnects_total counter\n"
			   "wal2queue_reconnects_total{peer=\"postgres\"} %llu\n"
			   "wal2queue_reconnects_total{peer=\"%s\"} %llu\n"
			   "# HELP wal2queue_messages_ignored_total wal2queue logical messages that were no job: PUBLIC could execute pg_logical_emit_message() (--plugin=pgoutput).\n"
			   "# TYPE wal2queue_messages_ignored_total counter\n"
			   "wal2queue_messages_ignored_total{slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_up Whether the replication stream and the sink are connected.\n"
			   "# TYPE wal2queue_up gauge\n"
			   "wal2queue_up{peer=\"postgres\"} %d\n"
			   "wal2queue_up{peer=\"%s\"} %d\n",
			   m->sink, m->slot, (unsigned long long) m->jobs,
			   m->sink, m->slot, (unsigned long long) m->txns,
			   m->slot, (unsigned long long) m->bytes,
			   m->slot, (unsigned long long) m->confirmed_lsn,
			   m->slot, (unsigned long long) (m->received_lsn > m->confirmed_lsn ?
												m->received_lsn - m->confirmed_lsn : 0),
			   m->slot, m->lag_seconds,
			   m->slot, m->last_commit_us / 1e6,
			   m->sink, (unsigned long long) m->inflight_jobs,
			   m->sink, (unsigned long long) m->sink_errors,
			   (unsigned long long) m->pg_reconnects,
			   m->sink, (unsigned long long) m->sink_reconnects,
			   m->slot, (unsigned long long) m->messages_ignored,
			   m->streaming ? 1 : 0, m->sink, m->sink_up ? 1 : 0);
}

/* the slot's wal_status and safe_wal_size (when the slot watch read them) */
static void
format_slot(Out *o, const MetricsSnapshot *m)
{
	static const char *const states[] = {"reserved", "extended", "unreserved", "lost"};

	if (!m->wal_status[0])
		return;
	out_printf(o, "# HELP wal2queue_slot_wal_status The slot's wal_status (pg_replication_slots): 1 for the current one.\n"
			   "# TYPE wal2queue_slot_wal_status gauge\n");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		out_printf(o, "wal2queue_slot_wal_status{slot=\"%s\",status=\"%s\"} %d\n",
				   m->slot, states[i], strcmp(m->wal_status, states[i]) == 0);
	if (m->safe_wal_size >= 0)
		out_printf(o, "# HELP wal2queue_slot_safe_wal_size_bytes WAL that can still be written before the slot is in danger of being lost.\n"
				   "# TYPE wal2queue_slot_safe_wal_size_bytes gauge\n"
				   "wal2queue_slot_safe_wal_size_bytes{slot=\"%s\"} %lld\n",
				   m->slot, m->safe_wal_size);
}

/* --backfill's progress */
static void
format_backfill(Out *o, const MetricsSnapshot *m)
{
	out_printf(o, "# HELP wal2queue_backfill_running 1 while --backfill delivers a table's rows.\n"
			   "# TYPE wal2queue_backfill_running gauge\n"
			   "wal2queue_backfill_running{slot=\"%s\"} %d\n"
			   "# HELP wal2queue_backfill_rows_done Rows the backfill delivered (this backfill, resumes included).\n"
			   "# TYPE wal2queue_backfill_rows_done gauge\n"
			   "wal2queue_backfill_rows_done{slot=\"%s\"} %llu\n"
			   "# HELP wal2queue_backfill_rows_estimated The selected tables' rows, estimated (pg_class.reltuples).\n"
			   "# TYPE wal2queue_backfill_rows_estimated gauge\n"
			   "wal2queue_backfill_rows_estimated{slot=\"%s\"} %llu\n",
			   m->slot, m->backfill_running ? 1 : 0,
			   m->slot, (unsigned long long) m->backfill_rows_done,
			   m->slot, (unsigned long long) m->backfill_rows_estimated);
}

size_t
metrics_format(const MetricsSnapshot *m, char *buf, size_t buflen)
{
	Out			o = {buf, buflen, 0};

	if (buflen == 0)
		return 0;
	buf[0] = '\0';
	format_delivery(&o, m);
	format_slot(&o, m);
	format_backfill(&o, m);
	return o.len;
}

unsigned
metrics_health(const MetricsSnapshot *m, char *buf, size_t buflen)
{
	if (m->streaming)
		snprintf(buf, buflen, "ok: streaming; %s %s\n", m->sink ? m->sink : "sink",
				 m->sink_up ? "up" : "down");
	else if (m->standing_by)
		snprintf(buf, buflen, "ok: standing by\n");
	else if (m->backfill_running)
		snprintf(buf, buflen, "ok: backfilling (%llu rows delivered)\n",
				 (unsigned long long) m->backfill_rows_done);
	else
	{
		snprintf(buf, buflen, "not streaming\n");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	return MHD_HTTP_OK;
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	char		buf[METRICS_BUFSIZE];
	size_t		len = 0;
	unsigned	status = MHD_HTTP_OK;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void) cls, (void) version, (void) upload_data, (void) upload_data_size, (void) con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
	{
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		len = (size_t) snprintf(buf, sizeof(buf), "only GET\n");
	}
	else if (strcmp(url, "/healthz") == 0)
	{
		pthread_mutex_lock(&snap_lock);
		status = metrics_health(&current, buf, sizeof(buf));
		pthread_mutex_unlock(&snap_lock);
		len = strlen(buf);
	}
	else if (strcmp(url, "/metrics") != 0)
	{
		status = MHD_HTTP_NOT_FOUND;
		len = (size_t) snprintf(buf, sizeof(buf), "see /metrics or /healthz\n");
	}
	else
	{
		pthread_mutex_lock(&snap_lock);
		len = metrics_format(&current, buf, sizeof(buf));
		pthread_mutex_unlock(&snap_lock);
	}
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* split "host:port" (host may be empty or [v6]) */
static int
split_hostport(const char *hostport, char *host, size_t hostlen, const char **port)
{
	const char *colon = strrchr(hostport, ':');
	size_t		n;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	n = (size_t) (colon - hostport);
	if (n > 0 && hostport[0] == '[' && hostport[n - 1] == ']')
	{
		hostport++;
		n -= 2;
	}
	if (n >= hostlen)
		return -1;
	memcpy(host, hostport, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

/*
 * A port in decimal, 1 to 65535.  getaddrinfo() keeps only the low 16 bits
 * of a larger number, so 99999 would listen on 34463 while the log names
 * 99999; 0 would listen on a port nobody is told of.
 */
static bool
port_valid(const char *port)
{
	long		v = 0;
	const char *p;

	for (p = port; *p; p++)
	{
		if (*p < '0' || *p > '9' || p - port >= 5)
			return false;
		v = v * 10 + (*p - '0');
	}
	return p > port && v >= 1 && v <= 65535;
}

int
metrics_start(const char *hostport, char *err, size_t errlen)
{
	char		host[256];
	char		where[300];
	const char *port;
	struct addrinfo hints = {0},
			   *ai = NULL;
	int			rc;
	unsigned	flags = MHD_USE_INTERNAL_POLLING_THREAD;

	if (split_hostport(hostport, host, sizeof(host), &port) != 0)
	{
		snprintf(err, errlen, "invalid --metrics address \"%s\" (use host:port or :port)", hostport);
		return METRICS_BAD_ADDRESS;
	}
	if (!port_valid(port))
	{
		snprintf(err, errlen, "invalid --metrics port \"%s\" in \"%s\" (use a number from 1 to 65535)",
				 port, hostport);
		return METRICS_BAD_ADDRESS;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0)
	{
		snprintf(err, errlen, "invalid --metrics address \"%s\": %s", hostport, gai_strerror(rc));
		return METRICS_BAD_ADDRESS;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	snprintf(where, sizeof(where), ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
									 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
									 MHD_OPTION_END);
	freeaddrinfo(ai);
	if (daemon_handle == NULL)
	{
		snprintf(err, errlen, "could not serve metrics on %s (address in use?)", hostport);
		return -1;
	}
	log_msg(LOG_INFO, "serving metrics at http://%s/metrics and health at http://%s/healthz%s",
			where, where, strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ?
			" (every address)" : "");
	return 0;
}

void
metrics_publish(const MetricsSnapshot *snap)
{
	pthread_mutex_lock(&snap_lock);
	current = *snap;
	pthread_mutex_unlock(&snap_lock);
}

void
metrics_stop(void)
{
	if (daemon_handle)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}

void
metrics_log_status(const MetricsSnapshot *m)
{
	log_msg(LOG_INFO,
			"status: %s, %s %s; delivered %llu jobs in %llu transactions; "
			"confirmed %X/%X; lag %llu bytes, %.1f s; %llu jobs in flight",
			m->streaming ? "streaming" : "not streaming", m->sink,
			m->sink_up ? "up" : "down",
			(unsigned long long) m->jobs, (unsigned long long) m->txns,
			LSN_ARGS(m->confirmed_lsn),
			(unsigned long long) (m->received_lsn > m->confirmed_lsn ?
								  m->received_lsn - m->confirmed_lsn : 0),
			m->lag_seconds, (unsigned long long) m->inflight_jobs);
}
