/*-------------------------------------------------------------------------
 *
 * pgconnect.c
 *		Connections and commands under the bridge's limits: --recv-timeout
 *		and the stop flag (see pgerror.h).  A connect that keeps the
 *		SQLSTATE of a refusal, always asks for client_encoding UTF8 and
 *		tries each host and address in turn under its own bound; commands
 *		that a stop request or a silent server cannot hold forever.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netdb.h>
#include <sys/socket.h>

#include "log.h"
#include "pgerror.h"

#define CONNINFO_HINT \
	"check --dbname: a libpq conninfo (\"host=db dbname=app user=bridge\") or a postgresql:// URI"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pgerror_set_connect_limits() */
static int	default_timeout_s = PGERROR_CONNECT_TIMEOUT_S;
static volatile sig_atomic_t *stop_flag = NULL;

void
pgerror_set_connect_limits(int timeout_s, volatile sig_atomic_t *stop)
{
	default_timeout_s = timeout_s <= 0 ? PGERROR_CONNECT_TIMEOUT_S :
		timeout_s < PGERROR_CONNECT_MIN_S ? PGERROR_CONNECT_MIN_S : timeout_s;
	stop_flag = stop;
}

/* connect_timeout of a connection (libpq's rule: at least 2 s), or 0 */
static int
connect_timeout_s(PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn);
	PQconninfoOption *o;
	int			t = 0;

	for (o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val)
			t = atoi(o->val);
	PQconninfoFree(opts);
	return t <= 0 ? 0 : (t < 2 ? 2 : t);
}

/* the bound poll_connection() holds conn's connect to (pgerror.h) */
int
pgerror_connect_bound_s(PGconn *conn)
{
	int			timeout = connect_timeout_s(conn);

	return timeout ? timeout : default_timeout_s;
}

/* the connection's targets (libpq's lists, as PQconninfo() gives them) */
typedef struct Targets
{
	char		host[1024];
	char		hostaddr[1024];
	char		port[256];
	int			n;				/* how many hosts libpq tries */
} Targets;

static int
list_len(const char *list)
{
	int			n = 1;

	for (; *list; list++)
		n += *list == ',';
	return n;
}

static void
targets_read(PGconn *conn, Targets *t)
{
	PQconninfoOption *opts = PQconninfo(conn);

	memset(t, 0, sizeof(*t));
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			snprintf(t->host, sizeof(t->host), "%s", o->val);
		else if (strcmp(o->keyword, "hostaddr") == 0)
			snprintf(t->hostaddr, sizeof(t->hostaddr), "%s", o->val);
		else if (strcmp(o->keyword, "port") == 0)
			snprintf(t->port, sizeof(t->port), "%s", o->val);
	}
	PQconninfoFree(opts);
	t->n = t->hostaddr[0] ? list_len(t->hostaddr) : t->host[0] ? list_len(t->host) : 1;
}

/* the i-th entry of a comma list at out ("" past its end) */
static void
list_item(const char *list, int i, char *out, size_t outlen)
{
	const char *end;

	for (; i > 0 && list; i--)
		if ((list = strchr(list, ',')) != NULL)
			list++;
	if (list == NULL)
	{
		out[0] = '\0';
		return;
	}
	end = strchr(list, ',');
	snprintf(out, outlen, "%.*s", (int) (end ? (size_t) (end - list) : strlen(list)), list);
}

/* item appended to a comma list of n entries */
static void
list_add(char *list, size_t len, int n, const char *item)
{
	size_t		used = strlen(list);
	size_t		ilen = strlen(item);

	if (used + 1 + ilen + 1 > len)
		return;					/* too long: libpq reports the lists' mismatch */
	if (n)
		list[used++] = ',';
	memcpy(list + used, item, ilen + 1);
}

/* a libpq string that may be NULL (PQport() of a connection without a port) */
static const char *
or_empty(const char *s)
{
	return s ? s : "";
}

/*
 * A numeric address text in getnameinfo()'s form at out (libpq reads
 * hostaddr with getaddrinfo(), "127.1" or "0::1" as well, and shows the
 * address it tries in inet_ntop()'s form), or text itself if it is none
 */
static void
address_form(const char *text, char *out, size_t outlen)
{
	struct addrinfo hint = {.ai_flags = AI_NUMERICHOST,.ai_family = AF_UNSPEC,
	.ai_socktype = SOCK_STREAM};
	struct addrinfo *a;
	int			rc = -1;

	if (text[0] != '\0' && getaddrinfo(text, NULL, &hint, &a) == 0)
	{
		rc = getnameinfo(a->ai_addr, a->ai_addrlen, out, outlen, NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(a);
	}
	if (rc != 0)
		snprintf(out, outlen, "%s", text);
}

/*
 * The addresses of host name host after addr, in the order libpq tries
 * them (getaddrinfo() as its connectDBStart() calls it), at out as a comma
 * list: how many
 */
static int
addresses_after(const char *host, const char *addr, char *out, size_t outlen)
{
	struct addrinfo hint = {.ai_family = AF_UNSPEC,.ai_socktype = SOCK_STREAM};
	struct addrinfo *list;
	char		given[NI_MAXHOST];
	bool		past = false;
	int			n = 0;

	out[0] = '\0';
	if (host[0] == '\0' || host[0] == '/' || host[0] == '@' || addr[0] == '\0' ||
		getaddrinfo(host, NULL, &hint, &list) != 0)
		return 0;
	address_form(addr, given, sizeof(given));
	for (struct addrinfo *a = list; a; a = a->ai_next)
	{
		char		text[NI_MAXHOST];

		if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		if (past)
			list_add(out, outlen, n++, text);
		else
			past = strcmp(text, given) == 0;
	}
	freeaddrinfo(list);
	return n;
}

/*
 * The entry of t libpq is at: the one whose host (or hostaddr without it,
 * or the default socket directory without both) PQhost() gives, with
 * PQport()'s port, and, for a hostaddr entry, the address PQhostaddr()
 * tries (host=db,db hostaddr=10.0.0.1,10.0.0.2).  Counting the entries
 * libpq is seen to move to cannot tell: an entry that fails at once (a
 * socket directory with no server, a refused port) is passed over inside
 * one PQconnectPoll(), PQconnectStartParams()'s own included (attack 572).
 * Of equal entries, the first at or after moved (how many moves were
 * seen); -1 when none is libpq's.
 */
static int
current_entry(const Targets *t, PGconn *conn, int moved)
{
	const char *host = or_empty(PQhost(conn));
	const char *port = or_empty(PQport(conn));
	bool		one_port = list_len(t->port) == 1;
	char		tried[NI_MAXHOST];
	int			first = -1;

	address_form(or_empty(PQhostaddr(conn)), tried, sizeof(tried));
	for (int j = 0; j < t->n; j++)
	{
		char		h[256];
		char		ha[256];
		char		p[64];
		char		given[NI_MAXHOST];

		list_item(t->host, j, h, sizeof(h));
		list_item(t->hostaddr, j, ha, sizeof(ha));
		list_item(t->port, one_port ? 0 : j, p, sizeof(p));
		if (p[0] != '\0' && strcmp(p, port) != 0)
			continue;
		if (h[0] != '\0' ? strcmp(h, host) != 0 :
			ha[0] != '\0' ? strcmp(ha, host) != 0 : host[0] != '/' && host[0] != '@')
			continue;
		if (ha[0] != '\0' && tried[0] != '\0' &&
			(address_form(ha, given, sizeof(given)), strcmp(given, tried) != 0))
			continue;
		if (j >= moved)
			return j;
		if (first < 0)
			first = j;
	}
	return first;
}

/*
 * t becomes what is left after its entry-th host's address addr was given
 * up: that host's later addresses (as hostaddr entries with its name, which
 * libpq still uses for authentication), then the hosts after it.  The
 * number of entries left.
 */
static int
targets_after(Targets *t, int entry, const char *addr)
{
	Targets		r;
	char		host[256];
	char		hostaddr[256];
	char		port[64];
	char		addrs[1024];
	bool		one_port = list_len(t->port) == 1;
	int			m;

	memset(&r, 0, sizeof(r));
	list_item(t->host, entry, host, sizeof(host));
	list_item(t->hostaddr, entry, hostaddr, sizeof(hostaddr));
	list_item(t->port, one_port ? 0 : entry, port, sizeof(port));
	m = hostaddr[0] ? 0 : addresses_after(host, addr, addrs, sizeof(addrs));
	for (int i = 0; i < m; i++, r.n++)
	{
		list_item(addrs, i, hostaddr, sizeof(hostaddr));
		list_add(r.host, sizeof(r.host), r.n, host);
		list_add(r.hostaddr, sizeof(r.hostaddr), r.n, hostaddr);
		list_add(r.port, sizeof(r.port), r.n, port);
	}
	for (int j = entry + 1; j < t->n; j++, r.n++)
	{
		list_item(t->host, j, host, sizeof(host));
		list_item(t->hostaddr, j, hostaddr, sizeof(hostaddr));
		list_item(t->port, one_port ? 0 : j, port, sizeof(port));
		list_add(r.host, sizeof(r.host), r.n, host);
		list_add(r.hostaddr, sizeof(r.hostaddr), r.n, hostaddr);
		list_add(r.port, sizeof(r.port), r.n, port);
	}
	*t = r;
	return r.n;
}

/*
 * Drive PQconnectPoll to its end: NULL, or why it was given up.  A server
 * (or a proxy in front of it) that accepts and never answers is given up
 * after connect_timeout, or the default bound without it (attack 505).
 * The bound is each host's and each address's, as libpq's own
 * connectDBComplete() has it (attack 548): it starts again whenever libpq
 * moves to another one (PQhost(), one string per host entry, PQport(),
 * PQhostaddr()); on expiry *expired is set, for pgerror_connect() to go on
 * with the entry after the one given up (current_entry(): *moved counts
 * the moves to another host entry seen here).  A stop request (SIGTERM,
 * SIGINT) is looked at every 200 ms at most.
 */
static const char *
poll_connection(PGconn *conn, char *why, size_t whylen, bool *expired, int *moved)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int			timeout = connect_timeout_s(conn);
	int			bound = timeout ? timeout : default_timeout_s;
	int64_t		deadline = mono_ms() + (int64_t) bound * 1000;
	const char *host = PQhost(conn);
	char		where[512];

	*expired = false;
	*moved = 0;
	snprintf(where, sizeof(where), "%s:%s:%s", or_empty(PQport(conn)), PQhostaddr(conn), host);
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		struct pollfd pfd = {.fd = PQsocket(conn),
		.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int			rc;

		if (stop_flag && *stop_flag)
			return "stopped by a signal while connecting";
		if (mono_ms() >= deadline)
		{
			*expired = true;
			snprintf(why, whylen, "timeout expired: no answer from host \"%s\" (port %s) within %d s%s",
					 host, or_empty(PQport(conn)), bound, timeout ? "" : " (the bound without connect_timeout "
					 "in --dbname, which sets it for each host and address)");
			return why;
		}
		rc = poll(&pfd, 1, 200);
		if (rc < 0 && errno != EINTR)
			return strerror(errno);
		if (rc > 0 || pfd.fd < 0)
		{
			char		now[512];

			st = PQconnectPoll(conn);
			snprintf(now, sizeof(now), "%s:%s:%s", or_empty(PQport(conn)), PQhostaddr(conn),
					 PQhost(conn));
			if (PQhost(conn) != host)
				(*moved)++;
			if (PQhost(conn) != host || strcmp(now, where) != 0)
				deadline = mono_ms() + (int64_t) bound * 1000;
			host = PQhost(conn);
			memcpy(where, now, sizeof(where));
		}
	}
	return NULL;
}

/* wait until conn has a whole result to give (false: given up, *why) */
static bool
wait_result(PGconn *conn, int64_t deadline, const char **why)
{
	while (PQisBusy(conn))
	{
		struct pollfd pfd = {.fd = PQsocket(conn),.events = POLLIN};
		int			rc;

		if (stop_flag && *stop_flag)
			*why = "stopped by a signal";
		else if (mono_ms() >= deadline)
			*why = "no answer from the server within the bound of --recv-timeout";
		if (*why)
			return false;
		rc = poll(&pfd, 1, 200);
		if (rc < 0 && errno != EINTR)
		{
			*why = strerror(errno);
			return false;
		}
		if ((rc > 0 || pfd.fd < 0) && !PQconsumeInput(conn))
			return true;		/* PQgetResult reports the failure */
	}
	return true;
}

/*
 * pgerror_exec(), and with running: at each bound, ask it whether the
 * server still runs the command; wait one more bound while it says so
 */
static PGresult *
exec_watched(PGconn *conn, const char *sql, bool bounded, PgStillRunning running, void *arg,
			 const char **why)
{
	int64_t		deadline = bounded ? mono_ms() + (int64_t) default_timeout_s * 1000 : INT64_MAX;
	PGresult   *res;
	PGresult   *keep = NULL;
	ExecStatusType st;

	/* the first look soon: what the command holds while it runs (attack 620) */
	if (running)
		deadline = mono_ms() + PGERROR_FIRST_CHECK_MS;

	*why = NULL;
	if (!PQsendQuery(conn, sql))
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	for (;;)
	{
		if (!wait_result(conn, deadline, why))
		{
			if (running == NULL || (stop_flag && *stop_flag) || !running(arg, why))
				break;
			*why = NULL;		/* it still runs: one more bound */
			deadline = mono_ms() + (int64_t) default_timeout_s * 1000;
			continue;
		}
		if ((res = PQgetResult(conn)) == NULL)
			break;
		st = PQresultStatus(res);

		if (keep == NULL || (PQresultStatus(keep) != PGRES_FATAL_ERROR))
		{
			PQclear(keep);
			keep = res;
		}
		else
			PQclear(res);
		if (st == PGRES_COPY_BOTH || st == PGRES_COPY_IN || st == PGRES_COPY_OUT)
			return keep;
	}
	if (*why == NULL)
		return keep;
	PQclear(keep);
	if (PQsocket(conn) >= 0)
		shutdown(PQsocket(conn), SHUT_RDWR);
	return NULL;
}

PGresult *
pgerror_exec(PGconn *conn, const char *sql, bool bounded, const char **why)
{
	return exec_watched(conn, sql, bounded, NULL, NULL, why);
}

PGresult *
pgerror_exec_watched(PGconn *conn, const char *sql, PgStillRunning running, void *arg,
					 const char **why)
{
	return exec_watched(conn, sql, true, running, arg, why);
}

static void
set_failure(PgConnectFailure *f, PgErrorKind kind, const char *hint, const char *msg)
{
	f->kind = kind;
	f->hint = hint;
	pgerror_plain_message(msg, f->message, sizeof(f->message));
}

/*
 * keys/vals with client_encoding=UTF8 after them: a later keyword overrides
 * the same one expanded from dbname, and any keyword set overrides its
 * environment variable (PGCLIENTENCODING)
 */
static bool
with_utf8(const char *const *keys, const char *const *vals,
		  const char **k, const char **v, int max)
{
	int			n;

	for (n = 0; keys[n] != NULL; n++)
	{
		if (n + 2 >= max)
			return false;
		k[n] = keys[n];
		v[n] = vals[n];
	}
	k[n] = "client_encoding";
	v[n] = PGERROR_CLIENT_ENCODING;
	k[n + 1] = v[n + 1] = NULL;
	return true;
}

/* a growing string; NULL once out of memory */
typedef struct Text
{
	char	   *s;
	size_t		len;
	size_t		cap;
} Text;

static void
text_add(Text *b, const char *s, size_t n)
{
	if (b->s == NULL)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = (b->len + n + 1) * 2;
		char	   *s2 = realloc(b->s, cap);

		if (s2 == NULL)
		{
			free(b->s);
			b->s = NULL;
			return;
		}
		b->s = s2;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* keyword='value' added to a connection string, quoted as libpq reads it */
static void
text_add_option(Text *b, const char *keyword, const char *value)
{
	text_add(b, " ", 1);
	text_add(b, keyword, strlen(keyword));
	text_add(b, "='", 2);
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			text_add(b, "\\", 1);
		text_add(b, c, 1);
	}
	text_add(b, "'", 1);
}

/*
 * The dbname of an attempt that starts again at t's hosts: dbname's own
 * connection string (PQconninfoParse(), a URI as well; or dbname=NAME for a
 * database name) with t's host, hostaddr and port lists instead of its own.
 * Each of the three is set in the string even when empty: an empty value
 * there sets the option to nothing, where an empty keyword value (a single
 * host with no hostaddr, no port) is passed over and leaves --dbname's list,
 * or PGHOSTADDR's, PGPORT's or the service file's, to mismatch the host
 * list or to try a host given up again (attack 574).  NULL: out of memory
 * (dbname parsed for the first attempt).
 */
static char *
conninfo_at(const char *dbname, const Targets *t)
{
	Text		b = {malloc(256), 0, 256};
	PQconninfoOption *opts = NULL;

	if (b.s)
		b.s[0] = '\0';
	if (dbname && (strncmp(dbname, "postgresql://", 13) == 0 ||
				   strncmp(dbname, "postgres://", 11) == 0 || strchr(dbname, '=') != NULL))
	{
		if ((opts = PQconninfoParse(dbname, NULL)) == NULL)
		{
			free(b.s);
			return NULL;
		}
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val && strcmp(o->keyword, "host") != 0 &&
				strcmp(o->keyword, "hostaddr") != 0 && strcmp(o->keyword, "port") != 0)
				text_add_option(&b, o->keyword, o->val);
		PQconninfoFree(opts);
	}
	else if (dbname && dbname[0] != '\0')
		text_add_option(&b, "dbname", dbname);
	text_add_option(&b, "host", t->host);
	text_add_option(&b, "hostaddr", t->hostaddr);
	text_add_option(&b, "port", t->port);
	return b.s;
}

/*
 * dbname's connection string pinned to the server conn reached: its host,
 * address and port (PQhost(), PQhostaddr(), PQport()) instead of the lists,
 * so that a second connection reaches the same server, without a name
 * lookup when libpq gave its address.  malloc'd; NULL: out of memory.
 */
char *
pgerror_conninfo_same_server(const char *dbname, PGconn *conn)
{
	Targets		t;

	memset(&t, 0, sizeof(t));
	t.n = 1;
	snprintf(t.host, sizeof(t.host), "%s", or_empty(PQhost(conn)));
	snprintf(t.hostaddr, sizeof(t.hostaddr), "%s", or_empty(PQhostaddr(conn)));
	snprintf(t.port, sizeof(t.port), "%s", or_empty(PQport(conn)));
	/*
	 * No test of the host here: a connection over a Unix socket has no
	 * PQhostaddr(), and one with an address went by TCP to it even when its
	 * host is a socket directory (PGHOST, a service file), which is then
	 * only a name (attack 703)
	 */
	return conninfo_at(dbname, &t);
}

/*
 * PQconnectStartParams; with t, to t's hosts, addresses and ports only
 * (conninfo_at() in the first dbname, which libpq expands; host, hostaddr
 * and port keywords left out)
 */
static PGconn *
start_from(const char *const *keys, const char *const *vals, const Targets *t)
{
	const char *k[24];
	const char *v[24];
	int			n = 0;
	int			dbname_at = -1;
	char	   *conninfo = NULL;
	PGconn	   *conn;

	for (int i = 0; keys[i] != NULL && n < 20; i++)
	{
		if (t && (strcmp(keys[i], "host") == 0 || strcmp(keys[i], "hostaddr") == 0 ||
				  strcmp(keys[i], "port") == 0))
			continue;
		if (dbname_at < 0 && strcmp(keys[i], "dbname") == 0 && vals[i] != NULL)
			dbname_at = n;
		k[n] = keys[i];
		v[n++] = vals[i];
	}
	if (t)
	{
		if ((conninfo = conninfo_at(dbname_at >= 0 ? v[dbname_at] : NULL, t)) == NULL)
			return NULL;
		if (dbname_at >= 0)
			v[dbname_at] = conninfo;
		else
		{
			k[n] = "dbname";
			v[n++] = conninfo;
		}
	}
	k[n] = v[n] = NULL;
	if ((conn = PQconnectStartParams(k, v, 1)) != NULL)
		PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	free(conninfo);
	return conn;
}

/*
 * Connect as libpq's connectDBComplete() does: a host or address given up
 * at its bound is left for the next one (poll_connection()), and each is
 * tried once.  libpq offers no call to move on, so the attempt starts
 * again with what is left after the entry libpq was at (current_entry(),
 * targets_after(), start_from()).  *at_once: the first attempt failed
 * before talking to any server; *given_up: why the last was given up, or
 * NULL.  NULL: out of memory.
 */
static PGconn *
connect_each_host(const char *const *keys, const char *const *vals, char *why,
				  size_t whylen, bool *at_once, const char **given_up)
{
	PGconn	   *conn = start_from(keys, vals, NULL);
	Targets		t;
	int			moved;
	int			index;
	bool		expired;
	char		addr[NI_MAXHOST];

	*given_up = NULL;
	if (conn == NULL || (*at_once = PQstatus(conn) == CONNECTION_BAD))
		return conn;
	targets_read(conn, &t);
	for (;;)
	{
		*given_up = poll_connection(conn, why, whylen, &expired, &moved);
		if (*given_up == NULL || !expired)
			break;
		if ((index = current_entry(&t, conn, moved)) < 0)
			index = moved < t.n ? moved : t.n - 1;
		snprintf(addr, sizeof(addr), "%s", PQhostaddr(conn));
		if (targets_after(&t, index, addr) == 0)
			break;
		log_msg(LOG_INFO, "%s; trying the next address or host", why);
		PQfinish(conn);
		if ((conn = start_from(keys, vals, &t)) == NULL || PQstatus(conn) == CONNECTION_BAD)
		{
			*given_up = NULL;
			break;
		}
	}
	return conn;
}

PGconn *
pgerror_connect(const char *const *keys, const char *const *vals, PgConnectFailure *f)
{
	const char *k[16];
	const char *v[16];
	PGconn	   *conn;
	bool		at_once = false;	/* failed before talking to any server */
	const char *given_up = NULL;
	char		why[600];

	memset(f, 0, sizeof(*f));
	if (!with_utf8(keys, vals, k, v, 16))
	{
		set_failure(f, PGERR_PERMANENT, NULL, "too many connection keywords");
		return NULL;
	}
	keys = k;
	vals = v;
	conn = connect_each_host(keys, vals, why, sizeof(why), &at_once, &given_up);
	if (conn == NULL)
	{
		set_failure(f, PGERR_TRANSIENT, NULL, "out of memory");
		return NULL;
	}
	if (given_up)
		set_failure(f, PGERR_TRANSIENT, NULL, given_up);
	else if (PQstatus(conn) == CONNECTION_OK)
	{
		PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
		return conn;
	}
	else if (pgerror_sqlstate_in_message(PQerrorMessage(conn), f->sqlstate))
	{
		PgErrorKind kind = pgerror_classify(f->sqlstate);

		set_failure(f, kind, kind == PGERR_PERMANENT ? pgerror_hint(f->sqlstate) : NULL,
					PQerrorMessage(conn));
	}
	else if (PQconnectionNeedsPassword(conn))
		set_failure(f, PGERR_PERMANENT, PASSWORD_HINT, PQerrorMessage(conn));
	else if (at_once && PQpingParams(keys, vals, 1) == PQPING_NO_ATTEMPT)
		set_failure(f, PGERR_PERMANENT, CONNINFO_HINT, PQerrorMessage(conn));
	else
		set_failure(f, PGERR_TRANSIENT, NULL, PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}
