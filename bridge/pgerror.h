/*-------------------------------------------------------------------------
 *
 * pgerror.h
 *		Which PostgreSQL errors are worth retrying, decided by SQLSTATE and
 *		libpq's state, never by the text of a message (which the server
 *		translates: lc_messages).
 *
 * A transient error is one a moment or a restart can cure: the server is
 * shutting down or starting (57P01, 57P02, 57P03), full (53300), the slot
 * is held by another walsender (55006), the connection broke (class 08).
 * A permanent one needs an operator: a password or a pg_hba.conf line
 * (class 28), a database or an object that does not exist (3D000, 42704,
 * 42P01), a missing privilege (42501), a feature the server lacks (0A000).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PGERROR_H
#define W2Q_PGERROR_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef enum PgErrorKind
{
	PGERR_UNKNOWN,				/* no SQLSTATE: the caller decides */
	PGERR_TRANSIENT,
	PGERR_PERMANENT
} PgErrorKind;

/* SQLSTATEs the bridge names */
#define PGERR_OBJECT_IN_USE			"55006"
#define PGERR_UNDEFINED_OBJECT		"42704"
#define PGERR_UNDEFINED_FILE		"58P01"

/* classify a SQLSTATE (NULL or malformed: PGERR_UNKNOWN) */
extern PgErrorKind pgerror_classify(const char *sqlstate);

/*
 * Classify an error that ended a replication stream already under way
 * (NULL or malformed: PGERR_UNKNOWN).  Only what no new session can cure is
 * permanent: the WAL the slot needs is gone (58P01 with a message naming a
 * WAL segment file, the walsender's "requested WAL segment %s has already
 * been removed": pg_resetwal, or a restore without pg_wal).  58P01 alone is
 * any missing file (errcode_for_file_access: an extension's library during
 * a package upgrade) and is transient, as is every other error there:
 * the server stopping, and errors raised
 * while decoding, which an operator may cure without restarting the
 * bridge; session.c retries them with backoff.
 */
extern PgErrorKind pgerror_classify_stream_end(const char *sqlstate,
											   const char *message);

/* what an operator can do about a permanent error, or NULL */
extern const char *pgerror_hint(const char *sqlstate);

/*
 * Where a password can be given: in pgerror_hint()'s for 28P01 (pgerror.c),
 * and pgerror_connect()'s hint when libpq needed one it did not have
 * (pgconnect.c)
 */
#define PASSWORD_HINT \
	"give the password in PGPASSWORD, in ~/.pgpass or as password=... in --dbname"

/*
 * The SQLSTATE in a message libpq built with PQERRORS_VERBOSE
 * ("SEVERITY:  XXXXX: text"); the last one if several hosts answered.
 * Returns false if there is none (the failure was on our side).
 */
extern bool pgerror_sqlstate_in_message(const char *msg, char sqlstate[6]);

/*
 * The message for people: the SQLSTATE prefixes and the LOCATION lines of
 * PQERRORS_VERBOSE taken out again.
 */
extern void pgerror_plain_message(const char *msg, char *buf, size_t buflen);

/*
 * Connections and commands under the bridge's limits (pgconnect.c)
 */

/* why a connection failed */
typedef struct PgConnectFailure
{
	PgErrorKind kind;			/* never PGERR_UNKNOWN after a failure */
	char		sqlstate[6];	/* the server's, or "" */
	const char *hint;			/* for people, or NULL */
	char		message[400];	/* libpq's message, one line */
} PgConnectFailure;

/*
 * The client encoding of every connection the bridge opens, whatever -d or
 * PGCLIENTENCODING say: jobs carry UTF-8, and pgoutput sends text (values,
 * a message's prefix) in the client encoding (test/t/456).
 */
#define PGERROR_CLIENT_ENCODING "UTF8"

/*
 * PQconnectdbParams (expand_dbname) with client_encoding=PGERROR_CLIENT_ENCODING
 * added after keys (so it overrides dbname's and the environment's; at most
 * 14 keys), but with PQERRORS_VERBOSE while connecting so that a refusal by
 * the server keeps its SQLSTATE: libpq 15 has no other way to tell it for
 * a failed connection.  connect_timeout bounds each host and address of
 * the attempt, as in libpq's PQconnectdb, or without it the default bound
 * (pgerror_set_connect_limits()); a host or address given up leaves the
 * attempt to the next address of the host name, or the next host of the
 * list; a stop request ends it too (transient).  Returns the connection, or NULL with *f
 * filled in: a SQLSTATE decides; without one, a password libpq needed and
 * did not have, or options it cannot use, are permanent, and anything else
 * (refused, unreachable, timed out) is transient.
 */
/*
 * The bound of a connection attempt whose conninfo sets no connect_timeout
 * (seconds, at least PGERROR_CONNECT_MIN_S; 0: PGERROR_CONNECT_TIMEOUT_S),
 * and a flag a signal handler sets to stop: pgerror_connect() gives up
 * within 200 ms of it.  The bridge passes --recv-timeout and its stop flag.
 */
#define PGERROR_CONNECT_TIMEOUT_S 60
#define PGERROR_CONNECT_MIN_S 10
extern void pgerror_set_connect_limits(int timeout_s, volatile sig_atomic_t *stop);

/*
 * The bound of one host's connect for conn, begun (PQconnectStartParams()):
 * its connect_timeout as libpq resolved it (the connection string, the
 * environment, a service file), else the default bound above; seconds
 */
extern int	pgerror_connect_bound_s(PGconn *conn);

extern char *pgerror_conninfo_same_server(const char *dbname, PGconn *conn);
extern PGconn *pgerror_connect(const char *const *keys, const char *const *vals,
							   PgConnectFailure *f);

/*
 * PQexec under the same limits: a blocking PQexec waits in poll() for as
 * long as a silent path keeps the connection open, and retries on EINTR,
 * so neither a stop request nor the bound would end it.  Returns what
 * PQexec would (the first error, else the last result; a COPY at once),
 * or NULL when given up (*why says why: a stop request, or no answer
 * within the bound); the connection is then closed for reading and
 * writing, and only PQfinish() is left to do with it.  bounded: false: only
 * a stop request ends the wait (see pgerror_exec_watched()).
 */
extern PGresult *pgerror_exec(PGconn *conn, const char *sql, bool bounded, const char **why);

/*
 * pgerror_exec() for a command a working server may take long to answer
 * (CREATE_REPLICATION_SLOT waits for the transactions running, the slot
 * registry's calls for a lock): after PGERROR_FIRST_CHECK_MS, then at each
 * bound, running(arg, why) is asked whether the server still runs it (the
 * bridge asks from another connection: stream.c); the wait goes on for
 * another bound while it says so, and is given up when it says no (*why
 * set: e.g. the server finished the command and its answer never came, the
 * path went silent; test/t/602).  The stop flag ends the wait too.
 */
#define PGERROR_FIRST_CHECK_MS 1000	/* the first ask, then one per bound */
typedef bool (*PgStillRunning) (void *arg, const char **why);
extern PGresult *pgerror_exec_watched(PGconn *conn, const char *sql, PgStillRunning running,
									  void *arg, const char **why);

/*
 * A connection and how its owner runs a command on it (stream.c's
 * stream_exec(): pgerror_exec() under --recv-timeout and the stop flag, the
 * connection's state kept): run returns what PQexec would, or NULL when the
 * command was given up, the owner having said why (its error, not the
 * caller's).  conn is for escaping (PQescapeLiteral) and status only.
 */
typedef struct PgExec
{
	PGconn	   *conn;
	PGresult   *(*run) (void *arg, const char *sql);
	void	   *arg;
} PgExec;

#define pgexec_run(x, sql) ((x)->run((x)->arg, (sql)))

#endif							/* W2Q_PGERROR_H */
