/*-------------------------------------------------------------------------
 *
 * workload.c
 *		The fault matrix's workload: transactions of 1 to 10,000 jobs.
 *
 *	w2q-workload -d CONNINFO [--setup] [--set NAME] [--txns N] [--seconds T]
 *				 [--seed S] [--base B] [--max-rows M] [--no-messages]
 *				 [--rollback-pct P] [--pause-ms MS] [--big-pct P]
 *
 * Every job has an id unique across tables and runs (the generator assigns
 * it: base * 10^9 + a counter), the generator's transaction number `txn`
 * (base * 10^6 + a counter, in commit order: one connection, one
 * transaction at a time) and the transaction's size `txn_size` (rows plus
 * logical messages).  Rows go into faults_<set>1..3 (id, txn, txn_size, k,
 * route, pad): `k` (the key column) is drawn from 0..49 so keys repeat
 * across transactions, `route` (the route column) is r0..r3 or NULL (then
 * the target is the table).  A transaction may also emit logical messages
 * `wal2queue:rN#K` whose payload is {"id":..,"txn":..,"txn_size":..,"k":..}
 * and records each in faults_msgs (not a job table) in the same
 * transaction, so a reader of PostgreSQL knows which messages committed.
 * Some transactions roll back.  Most are small (80 % 1-10 rows, the rest
 * 11-500), --big-pct (default 3) percent have 1,000-10,000 rows (at most
 * --max-rows).
 *
 * A lost connection (the faults restart the server) is retried for up to
 * 120 seconds; the transaction in flight then is abandoned (PostgreSQL
 * alone knows whether it committed) and the next one gets a new number.
 *
 * --setup creates the tables and exits.  Each committed transaction of
 * 1,000 jobs or more prints "big txn=T jobs=J" at once (the harness injects
 * faults then); the last line of stdout is a summary: "txns=N committed=C
 * rolled_back=R failed=F jobs=J".
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

typedef struct Options
{
	const char *conninfo;
	const char *set;
	long		txns;
	double		seconds;
	uint64_t	seed;
	long		base;
	int			max_rows;
	int			messages;
	int			rollback_pct;
	int			pause_ms;
	int			big_pct;
	int			setup;
} Options;

/* a growing SQL text */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static uint64_t rng_state;

/* xorshift64*: the same sequence for the same seed */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static long
rng_between(long lo, long hi)
{
	return lo + (long) (rng() % (uint64_t) (hi - lo + 1));
}

static void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t) n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t) n + 1024;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "w2q-workload: out of memory\n");
			exit(1);
		}
	}
	b->len += (size_t) n;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: w2q-workload -d CONNINFO [--setup] [--set NAME] [--txns N] "
			"[--seconds T] [--seed S] [--base B] [--max-rows M] [--no-messages] "
			"[--rollback-pct P] [--pause-ms MS] [--big-pct P]\n");
	exit(2);
}

static void
parse_options(Options *o, int argc, char **argv)
{
	*o = (Options) {
		.set = "t",.txns = 200,.seconds = 60,.seed = 1,.max_rows = 10000,
		.messages = 1,.rollback_pct = 5,.big_pct = 3
	};
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--setup") == 0)
			o->setup = 1;
		else if (strcmp(a, "--no-messages") == 0)
			o->messages = 0;
		else if (v == NULL)
			usage();
		else if (strcmp(a, "-d") == 0)
			o->conninfo = v, i++;
		else if (strcmp(a, "--set") == 0)
			o->set = v, i++;
		else if (strcmp(a, "--txns") == 0)
			o->txns = atol(v), i++;
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = atof(v), i++;
		else if (strcmp(a, "--seed") == 0)
			o->seed = strtoull(v, NULL, 10), i++;
		else if (strcmp(a, "--base") == 0)
			o->base = atol(v), i++;
		else if (strcmp(a, "--max-rows") == 0)
			o->max_rows = atoi(v), i++;
		else if (strcmp(a, "--rollback-pct") == 0)
			o->rollback_pct = atoi(v), i++;
		else if (strcmp(a, "--pause-ms") == 0)
			o->pause_ms = atoi(v), i++;
		else if (strcmp(a, "--big-pct") == 0)
			o->big_pct = atoi(v), i++;
		else
			usage();
	}
	if (o->conninfo == NULL || o->max_rows < 1 || o->base < 0 || o->base > 9000 ||
		o->big_pct < 0 || o->big_pct > 100)
		usage();
	rng_state = o->seed * 0x9E3779B97F4A7C15ULL + 1;
}

static int
setup(PGconn *conn, const char *set)
{
	Buf			b = {0};
	PGresult   *res;
	int			ok;

	for (int t = 1; t <= 3; t++)
		buf_printf(&b, "CREATE TABLE IF NOT EXISTS faults_%s%d (id bigint PRIMARY KEY, "
				   "txn bigint NOT NULL, txn_size int NOT NULL, k int NOT NULL, "
				   "route text, pad text);", set, t);
	buf_printf(&b, "CREATE TABLE IF NOT EXISTS faults_msgs (id bigint PRIMARY KEY, "
			   "txn bigint NOT NULL, txn_size int NOT NULL, k int NOT NULL, target text);");
	res = PQexec(conn, b.data);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "w2q-workload: could not create the tables: %s", PQerrorMessage(conn));
	PQclear(res);
	free(b.data);
	return ok ? 0 : 1;
}

/* how many rows the next transaction has: mostly small, some large */
static int
draw_rows(int max_rows, int big_pct)
{
	long		p = rng_between(1, 100);
	long		n;

	if (p > 100 - big_pct)
		n = rng_between(1000, 10000);
	else if (p <= (100 - big_pct) * 80 / 100)
		n = rng_between(1, 10);
	else
		n = rng_between(11, 500);
	return (int) (n > max_rows ? max_rows : n);
}

static void
add_message(Buf *b, int64_t id, int64_t txn, int size)
{
	int			k = (int) rng_between(0, 49);
	int			r = (int) rng_between(0, 3);

	buf_printf(b, "SELECT pg_logical_emit_message(true, 'wal2queue:r%d#%d', "
			   "'{\"id\":%lld,\"txn\":%lld,\"txn_size\":%d,\"k\":%d}');"
			   "INSERT INTO faults_msgs VALUES (%lld, %lld, %d, %d, 'r%d');",
			   r, k, (long long) id, (long long) txn, size, k,
			   (long long) id, (long long) txn, size, k, r);
}

/*
 * The SQL of one transaction (without BEGIN/COMMIT).  Small ones are one
 * INSERT per row, large ones one INSERT ... SELECT per table; messages go
 * between rows.
 */
static void
build_txn(Buf *b, const Options *o, int64_t txn, int64_t *next_id, int *jobs)
{
	int			rows = draw_rows(o->max_rows, o->big_pct);
	int			msgs = o->messages && rng_between(1, 100) <= 10 ? (int) rng_between(1, 3) : 0;
	int			size = rows + msgs;
	int			msg_at[3];

	for (int m = 0; m < msgs; m++)
		msg_at[m] = (int) rng_between(0, rows);
	if (rows <= 50)
	{
		for (int i = 0; i <= rows; i++)
		{
			for (int m = 0; m < msgs; m++)
				if (msg_at[m] == i)
					add_message(b, (*next_id)++, txn, size);
			if (i == rows)
				break;
			int			t = (int) rng_between(1, 3);
			int			r = (int) rng_between(0, 4);
			char		route[16];

			/* one row in five has no route: its target is the table */
			snprintf(route, sizeof(route), r == 4 ? "NULL" : "'r%d'", r);
			buf_printf(b, "INSERT INTO faults_%s%d VALUES (%lld, %lld, %d, %ld, %s, "
					   "repeat('x', %ld));", o->set, t, (long long) (*next_id)++,
					   (long long) txn, size, rng_between(0, 49), route,
					   rng_between(10, 200));
		}
	}
	else
	{
		int			left = rows;

		for (int t = 1; t <= 3; t++)
		{
			int			n = t == 3 ? left : (int) rng_between(0, left);
			long		salt = rng_between(0, 1000000);

			if (n == 0)
				continue;
			buf_printf(b, "INSERT INTO faults_%s%d SELECT g, %lld, %d, (g * 7919 + %ld) %% 50, "
					   "CASE WHEN (g + %ld) %% 5 = 0 THEN NULL ELSE 'r' || ((g + %ld) %% 4) END, "
					   "repeat('y', 20 + (g %% 100)::int) FROM generate_series(%lld::bigint, %lld) g;",
					   o->set, t, (long long) txn, size, salt, salt, salt,
					   (long long) *next_id, (long long) (*next_id + n - 1));
			*next_id += n;
			left -= n;
		}
		for (int m = 0; m < msgs; m++)
			add_message(b, (*next_id)++, txn, size);
	}
	*jobs = size;
}

/* run one statement text; on a lost connection, reconnect (bounded) */
static int
run_sql(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	int			ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	if (ok)
		return 0;
	if (PQstatus(conn) == CONNECTION_OK)
	{
		PGresult   *r;

		fprintf(stderr, "w2q-workload: %s", PQerrorMessage(conn));
		r = PQexec(conn, "ROLLBACK");
		PQclear(r);
		if (PQstatus(conn) == CONNECTION_OK)
			return -1;
	}
	for (int i = 0; i < 240; i++)
	{
		usleep(500000);
		PQreset(conn);
		if (PQstatus(conn) == CONNECTION_OK)
			return 1;
	}
	fprintf(stderr, "w2q-workload: could not reconnect: %s", PQerrorMessage(conn));
	return -1;
}

int
main(int argc, char **argv)
{
	Options		o;
	PGconn	   *conn;
	double		start = now_seconds();
	int64_t		next_id;
	long		committed = 0,
				rolled_back = 0,
				failed = 0,
				jobs_total = 0,
				n;
	Buf			b = {0};

	parse_options(&o, argc, argv);
	conn = PQconnectdb(o.conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "w2q-workload: could not connect: %s", PQerrorMessage(conn));
		return 1;
	}
	if (o.setup)
		return setup(conn, o.set);
	next_id = (int64_t) o.base * 1000000000 + 1;
	for (n = 0; n < o.txns && now_seconds() - start < o.seconds; n++)
	{
		int64_t		txn = (int64_t) o.base * 1000000 + n + 1;
		int			rollback = rng_between(1, 100) <= o.rollback_pct;
		int			jobs;
		int			rc;

		b.len = 0;
		buf_printf(&b, "BEGIN;");
		build_txn(&b, &o, txn, &next_id, &jobs);
		buf_printf(&b, rollback ? "ROLLBACK;" : "COMMIT;");
		rc = run_sql(conn, b.data);
		if (rc < 0)
			return 1;
		if (rc > 0)
			failed++;
		else if (rollback)
			rolled_back++;
		else
		{
			committed++;
			jobs_total += jobs;
			/* the harness injects faults while a large one is delivered */
			if (jobs >= 1000)
			{
				printf("big txn=%lld jobs=%d\n", (long long) txn, jobs);
				fflush(stdout);
			}
		}
		if (o.pause_ms > 0)
			usleep((useconds_t) o.pause_ms * 1000);
	}
	printf("txns=%ld committed=%ld rolled_back=%ld failed=%ld jobs=%ld\n",
		   n, committed, rolled_back, failed, jobs_total);
	PQfinish(conn);
	free(b.data);
	return 0;
}
