/*-------------------------------------------------------------------------
 *
 * test_pgerror.c
 *		Unit tests of the SQLSTATE classification (transient or permanent),
 *		the hints, reading the SQLSTATE out of libpq's verbose message, and
 *		the bounds of a connect to a server that never answers.
 *
 *-------------------------------------------------------------------------
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgerror.h"
#include "unit.h"

typedef struct Case
{
	const char *sqlstate;
	PgErrorKind kind;
	const char *what;
} Case;

static const Case cases[] = {
	{"28000", PGERR_PERMANENT, "invalid authorization (no pg_hba.conf entry)"},
	{"28P01", PGERR_PERMANENT, "invalid password"},
	{"3D000", PGERR_PERMANENT, "database does not exist"},
	{"42501", PGERR_PERMANENT, "insufficient privilege (no REPLICATION)"},
	{"42704", PGERR_PERMANENT, "undefined object (no such slot)"},
	{"42P01", PGERR_PERMANENT, "undefined table"},
	{"0A000", PGERR_PERMANENT, "feature not supported"},
	{"55000", PGERR_PERMANENT, "object not in prerequisite state (wal_level)"},
	{"58P01", PGERR_PERMANENT, "undefined file (plugin not installed)"},
	{"53400", PGERR_PERMANENT, "configuration limit exceeded (slots)"},
	{"22023", PGERR_PERMANENT, "invalid parameter value (a plugin option)"},
	{"XX000", PGERR_PERMANENT, "internal error"},
	{"57P01", PGERR_TRANSIENT, "admin shutdown"},
	{"57P02", PGERR_TRANSIENT, "crash shutdown"},
	{"57P03", PGERR_TRANSIENT, "cannot connect now"},
	{"53300", PGERR_TRANSIENT, "too many connections"},
	{"53200", PGERR_TRANSIENT, "out of memory"},
	{"55006", PGERR_TRANSIENT, "object in use (slot active)"},
	{"08006", PGERR_TRANSIENT, "connection failure"},
	{"08P01", PGERR_TRANSIENT, "protocol violation"},
	{"40001", PGERR_TRANSIENT, "serialization failure"},
	{"57014", PGERR_TRANSIENT, "query canceled"},
	{NULL, PGERR_UNKNOWN, "no SQLSTATE"},
	{"", PGERR_UNKNOWN, "empty"},
	{"2800", PGERR_UNKNOWN, "too short"},
	{"28P011", PGERR_UNKNOWN, "too long"},
	{"28p01", PGERR_UNKNOWN, "lower case"},
};

static void
test_classify(void)
{
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		PgErrorKind got = pgerror_classify(cases[i].sqlstate);

		unit_check(got == cases[i].kind, "%s (%s) is %s", cases[i].sqlstate ? cases[i].sqlstate : "NULL",
				   cases[i].what, cases[i].kind == PGERR_PERMANENT ? "permanent" :
				   cases[i].kind == PGERR_TRANSIENT ? "transient" : "unknown");
	}
}

static void
test_hints(void)
{
	unit_check(pgerror_hint("28P01") && strstr(pgerror_hint("28P01"), "PGPASSWORD"),
			   "a bad password: the hint names PGPASSWORD");
	unit_check(pgerror_hint("28000") && strstr(pgerror_hint("28000"), "pg_hba.conf"),
			   "refused by the server: the hint names pg_hba.conf");
	unit_check(pgerror_hint("42501") && strstr(pgerror_hint("42501"), "REPLICATION"),
			   "no privilege: the hint names REPLICATION");
	unit_check(pgerror_hint("3D000") && strstr(pgerror_hint("3D000"), "--dbname"),
			   "no database: the hint names --dbname");
	unit_check(pgerror_hint("57P01") == NULL, "a transient error has no hint");
	unit_check(pgerror_hint(NULL) == NULL, "no SQLSTATE, no hint");
}

static void
test_message(void)
{
	char		code[6];
	char		buf[400];
	const char *de = "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: "
		"FATAL:  42501: muss Superuser oder Replikationsrolle sein, um den Walsender zu starten\n"
		"LOCATION:  InitPostgres, postinit.c:905\n";
	const char *two = "connection to server at \"10.0.0.1\", port 5432 failed: "
		"FATAL:  57P03: the database system is starting up\n"
		"connection to server at \"10.0.0.2\", port 5432 failed: "
		"FATAL:  28P01: password authentication failed for user \"bob\"\n";
	const char *client = "connection to server at \"127.0.0.1\", port 1 failed: "
		"Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n";

	unit_check(pgerror_sqlstate_in_message(de, code) && strcmp(code, "42501") == 0,
			   "the SQLSTATE of a translated message is read from libpq's layout");
	pgerror_plain_message(de, buf, sizeof(buf));
	unit_check_str(buf, "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: "
				   "FATAL:  muss Superuser oder Replikationsrolle sein, um den Walsender zu starten",
				   "the plain message drops the SQLSTATE and the LOCATION line");
	unit_check(pgerror_sqlstate_in_message(two, code) && strcmp(code, "28P01") == 0,
			   "with several hosts, the last SQLSTATE counts");
	unit_check(!pgerror_sqlstate_in_message(client, code) && code[0] == '\0',
			   "a client-side failure has no SQLSTATE");
	pgerror_plain_message(client, buf, sizeof(buf));
	unit_check(strstr(buf, "Connection refused") != NULL && strchr(buf, '\n') == NULL,
			   "a client-side message stays, on one line");
	pgerror_plain_message(de, buf, 20);
	unit_check(strlen(buf) == 19, "the plain message is cut to the buffer");
	unit_check(!pgerror_sqlstate_in_message("ERROR:  abcde: x", code),
			   "lower-case is no SQLSTATE");
}

static void
test_stream_end(void)
{
	unit_check(pgerror_classify_stream_end("58P01", "requested WAL segment "
										   "000000010000000000000003 has already been removed") ==
			   PGERR_PERMANENT,
			   "a stream ended by a removed WAL segment (58P01) is permanent");
	unit_check(pgerror_classify_stream_end("58P01", "could not access file \"$libdir/w2qtype\": "
										   "No such file or directory") == PGERR_TRANSIENT &&
			   pgerror_classify_stream_end("58P01", NULL) == PGERR_TRANSIENT &&
			   pgerror_classify_stream_end("58P01", "segment 0000000100000000000000031") ==
			   PGERR_TRANSIENT,
			   "58P01 without a WAL segment file named (a missing library) is retried");
	unit_check(pgerror_classify_stream_end("57P01", NULL) == PGERR_TRANSIENT &&
			   pgerror_classify_stream_end("08006", NULL) == PGERR_TRANSIENT,
			   "a stream ended by a shutdown or a broken connection is transient");
	unit_check(pgerror_classify_stream_end("XX000", NULL) == PGERR_TRANSIENT &&
			   pgerror_classify_stream_end("22023", NULL) == PGERR_TRANSIENT,
			   "a stream ended by an error raised while decoding is retried");
	unit_check(pgerror_classify_stream_end(NULL, NULL) == PGERR_UNKNOWN &&
			   pgerror_classify_stream_end("58P0", NULL) == PGERR_UNKNOWN,
			   "no SQLSTATE: unknown");
}

static void
test_connect(void)
{
	const char *keys[] = {"dbname", NULL};
	const char *bad_option[] = {"host=localhost nosuchoption=1", NULL};
	const char *bad_syntax[] = {"host=localhost port", NULL};
	const char *refused[] = {"host=127.0.0.1 port=1 connect_timeout=2", NULL};
	PgConnectFailure f;

	unit_check(pgerror_connect(keys, bad_option, &f) == NULL && f.kind == PGERR_PERMANENT &&
			   f.hint && strstr(f.hint, "--dbname"),
			   "an unknown conninfo option is permanent, with a hint");
	unit_check(pgerror_connect(keys, bad_syntax, &f) == NULL && f.kind == PGERR_PERMANENT,
			   "a conninfo that does not parse is permanent");
	unit_check(pgerror_connect(keys, refused, &f) == NULL && f.kind == PGERR_TRANSIENT &&
			   f.sqlstate[0] == '\0' && strstr(f.message, "refused") != NULL,
			   "a refused connection is transient");
}

/* client_encoding=UTF8 is added after the caller's keywords: room is bounded */
static void
test_connect_too_many(void)
{
	const char *keys[16];
	const char *vals[16];
	PgConnectFailure f;
	int			i;

	for (i = 0; i < 15; i++)
	{
		keys[i] = "connect_timeout";
		vals[i] = "2";
	}
	keys[15] = vals[15] = NULL;
	unit_check(pgerror_connect(keys, vals, &f) == NULL && f.kind == PGERR_PERMANENT &&
			   strstr(f.message, "too many connection keywords") != NULL,
			   "more keywords than pgerror_connect() can extend: permanent, named");
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* one bounded connect to conninfo: NULL expected; its time in seconds */
static double
timed_connect(const char *conninfo, PgConnectFailure *f)
{
	const char *keys[] = {"dbname", NULL};
	const char *vals[] = {conninfo, NULL};
	double		t0 = mono_s();
	PGconn	   *conn = pgerror_connect(keys, vals, f);

	if (conn != NULL)
	{
		PQfinish(conn);
		f->kind = PGERR_UNKNOWN;	/* no failure: the checks fail */
	}
	return mono_s() - t0;
}

/*
 * A server that accepts (the kernel does, from the backlog) and never
 * answers, as a proxy whose far side is gone (attack 505): the connect is
 * bounded without connect_timeout, and a stop request ends it at once.
 */
static void
test_connect_silent(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t	alen = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	char		conninfo[128];
	char		with_timeout[160];
	char		lists[3][240];

	/*
	 * Host lists, each silent entry with its bound once, as libpq gives it
	 * (attack 548), also behind an entry libpq passes over at once, before
	 * polling (attack 572), and with a hostaddr for the first host only
	 * (attack 574: not "could not match 1 host names to 2 hostaddr values").
	 */
	const char *list_fmt[3] = {
		"host=127.0.0.1,127.0.0.1 port=%d,%d dbname=x user=x sslmode=disable connect_timeout=2",
		"host=/nonexistent/w2q,127.0.0.1,127.0.0.1 port=5432,%d,%d dbname=x user=x "
		"sslmode=disable connect_timeout=2",
		"host=pg1.invalid,127.0.0.1 hostaddr=127.0.0.1, port=%d dbname=x user=x "
		"sslmode=disable connect_timeout=2"};
	const char *list_name[3] = {
		"connect_timeout bounds each host of a list: two silent ones, twice",
		"a dead entry first: two silent ones, twice, not three times",
		"a hostaddr for the first host only: two silent ones, twice"};
	const double list_max[3] = {6.0, 5.9, 6.0};
	volatile sig_atomic_t stop = 1;
	PgConnectFailure f;
	double		took;

	if (!unit_check(fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
					listen(fd, 8) == 0 && getsockname(fd, (struct sockaddr *) &a, &alen) == 0,
					"a silent listener"))
		return;
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable",
			 ntohs(a.sin_port));
	snprintf(with_timeout, sizeof(with_timeout), "%s connect_timeout=2", conninfo);
	for (int i = 0; i < 3; i++)
		snprintf(lists[i], sizeof(lists[i]), list_fmt[i], ntohs(a.sin_port), ntohs(a.sin_port));

	pgerror_set_connect_limits(1, &stop);
	took = timed_connect(conninfo, &f);
	unit_check(f.kind == PGERR_TRANSIENT && strstr(f.message, "stopped by a signal") != NULL &&
			   took < 1.0, "a stop request ends a connect at once, transient (%s)", f.message);

	stop = 0;
	took = timed_connect(with_timeout, &f);
	unit_check(f.kind == PGERR_TRANSIENT && strncmp(f.message, "timeout expired", 15) == 0 &&
			   took >= 1.9 && took < 4.0,
			   "connect_timeout in the conninfo bounds a silent server (%s)", f.message);

	for (int i = 0; i < 3; i++)
	{
		took = timed_connect(lists[i], &f);
		unit_check(f.kind == PGERR_TRANSIENT && strncmp(f.message, "timeout expired", 15) == 0 &&
				   took >= 3.9 && took < list_max[i], "%s (%.1f s, %s)", list_name[i], took,
				   f.message);
	}

	took = timed_connect(conninfo, &f);
	unit_check(f.kind == PGERR_TRANSIENT &&
			   strstr(f.message, "the bound without connect_timeout") != NULL &&
			   took >= PGERROR_CONNECT_MIN_S - 0.1 && took < PGERROR_CONNECT_MIN_S + 2,
			   "without connect_timeout the default bound (at least %d s) ends it (%s)",
			   PGERROR_CONNECT_MIN_S, f.message);
	pgerror_set_connect_limits(0, NULL);
	close(fd);
}

int
main(void)
{
	test_classify();
	test_hints();
	test_message();
	test_stream_end();
	test_connect_too_many();
	test_connect();
	test_connect_silent();
	return unit_done();
}
