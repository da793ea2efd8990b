/*-------------------------------------------------------------------------
 *
 * consumer.c
 *		Redis Streams workers and latency probe for the benchmark.
 *
 *	consumer [-p PORT] [-s STREAM] [-g GROUP] [-n WORKERS] [-c COUNT]
 *			 [-t SECONDS] [-l] [-r RATE]
 *
 * Starts WORKERS threads (default 1), each with its own connection to Redis
 * on 127.0.0.1:PORT, and runs them for SECONDS (default 10).  A worker
 * claims up to COUNT entries (default 1) of STREAM for the consumer group
 * GROUP with XREADGROUP ... BLOCK 100, does no work and acknowledges them
 * with XACK.  The group is created at 0 with MKSTREAM when it is missing.
 * At the end it prints "completed N" (entries acknowledged).
 *
 * With -l every entry's latency is taken: the time it was received minus
 * its created_at field ("YYYY-MM-DD HH:MM:SS[.ffffff]+00", as PostgreSQL
 * prints a timestamptz in UTC), and "latency_us P50 P99 MAX" is printed too.
 *
 * With -r RATE a producer thread also adds RATE entries per second to
 * STREAM with XADD, each with a created_at field of the moment it is sent,
 * for SECONDS; the workers then run one second longer to receive the tail.
 * That is the latency of Redis alone, the peer of the wal2queue pipeline.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define BLOCK_MS	"100"

static int	port = 6379;
static const char *stream = "default";
static const char *group = "workers";
static int	count = 1;
static int	seconds = 10;
static int	latency = 0;
static int	rate = 0;
static int64_t deadline_us;		/* CLOCK_MONOTONIC */

typedef struct Worker
{
	pthread_t	thread;
	int			id;
	long		completed;
	int64_t    *lat;			/* latencies in microseconds */
	size_t		nlat;
	size_t		maxlat;
} Worker;

static void
die(const char *msg, const redisContext *c)
{
	fprintf(stderr, "consumer: %s%s%s\n", msg, c ? ": " : "",
			c ? c->errstr : "");
	exit(1);
}

static int64_t
clock_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static redisContext *
connect_redis(void)
{
	redisContext *c = redisConnect("127.0.0.1", port);

	if (c == NULL || c->err)
		die("could not connect to Redis", c);
	return c;
}

/* "2024-05-01 10:00:00.123456+00" -> microseconds since the epoch, or -1 */
static int64_t
parse_timestamp(const char *s, size_t len)
{
	char		buf[64];
	struct tm	tm;
	char	   *p;
	int64_t		frac = 0;
	int			digits = 0;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	p = strptime(buf, "%Y-%m-%d %H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			frac = frac * 10 + (*p - '0');
	for (; digits < 6; digits++)
		frac *= 10;
	if (strcmp(p, "+00") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	return (int64_t) timegm(&tm) * 1000000 + frac;
}

static void
add_latency(Worker *w, int64_t us)
{
	if (w->nlat == w->maxlat)
	{
		w->maxlat = w->maxlat ? 2 * w->maxlat : 65536;
		w->lat = realloc(w->lat, w->maxlat * sizeof(int64_t));
		if (w->lat == NULL)
			die("out of memory", NULL);
	}
	w->lat[w->nlat++] = us;
}

/* the created_at value of a stream entry's field list, or -1 */
static int64_t
entry_created_at(const redisReply *fields)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2)
	{
		const redisReply *f = fields->element[i];

		if (f->type == REDIS_REPLY_STRING && strcmp(f->str, "created_at") == 0)
			return parse_timestamp(fields->element[i + 1]->str,
								   fields->element[i + 1]->len);
	}
	return -1;
}

static void *
work(void *arg)
{
	Worker	   *w = arg;
	redisContext *c = connect_redis();
	char		name[32];
	char		countstr[16];

	snprintf(name, sizeof(name), "worker-%d", w->id);
	snprintf(countstr, sizeof(countstr), "%d", count);
	while (clock_us(CLOCK_MONOTONIC) < deadline_us)
	{
		const char *argv[] = {"XREADGROUP", "GROUP", group, name, "COUNT",
		countstr, "BLOCK", BLOCK_MS, "STREAMS", stream, ">"};
		redisReply *r = redisCommandArgv(c, 11, argv, NULL);
		redisReply *entries;
		const char **ack;

		if (r == NULL)
			die("XREADGROUP failed", c);
		if (r->type == REDIS_REPLY_ERROR)
		{
			fprintf(stderr, "consumer: XREADGROUP: %s\n", r->str);
			exit(1);
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		{
			freeReplyObject(r);
			continue;
		}
		entries = r->element[0]->element[1];
		ack = malloc((3 + entries->elements) * sizeof(char *));
		if (ack == NULL)
			die("out of memory", NULL);
		ack[0] = "XACK";
		ack[1] = stream;
		ack[2] = group;
		for (size_t i = 0; i < entries->elements; i++)
		{
			const redisReply *e = entries->element[i];

			ack[3 + i] = e->element[0]->str;
			if (latency)
			{
				int64_t		t = entry_created_at(e->element[1]);

				if (t < 0)
				{
					fprintf(stderr, "consumer: entry %s has no created_at in UTC\n",
							e->element[0]->str);
					exit(1);
				}
				add_latency(w, clock_us(CLOCK_REALTIME) - t);
			}
		}
		freeReplyObject(redisCommandArgv(c, 3 + (int) entries->elements,
										 ack, NULL));
		w->completed += (long) entries->elements;
		free(ack);
		freeReplyObject(r);
	}
	redisFree(c);
	return NULL;
}

/* XADD RATE entries a second for SECONDS, each stamped with its send time */
static void *
produce(void *arg)
{
	redisContext *c = connect_redis();
	struct timespec start;
	long		n = (long) rate * seconds;

	(void) arg;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++)
	{
		int64_t		ns = start.tv_nsec + i * (1000000000 / rate);
		struct timespec next = {start.tv_sec + ns / 1000000000, ns % 1000000000};
		char		stamp[64];
		struct timespec now;
		struct tm	tm;
		redisReply *r;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp),
				 ".%06ld+00", now.tv_nsec / 1000);
		r = redisCommand(c, "XADD %s * created_at %s", stream, stamp);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			die("XADD failed", c);
		freeReplyObject(r);
	}
	redisFree(c);
	return NULL;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static void
create_group(void)
{
	redisContext *c = connect_redis();
	redisReply *r = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM",
								 stream, group);

	if (r == NULL)
		die("XGROUP CREATE failed", c);
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
	{
		fprintf(stderr, "consumer: XGROUP CREATE: %s\n", r->str);
		exit(1);
	}
	freeReplyObject(r);
	redisFree(c);
}

int
main(int argc, char **argv)
{
	int			nworkers = 1;
	int			opt;
	Worker	   *workers;
	pthread_t	producer;
	long		completed = 0;
	int64_t    *lat = NULL;
	size_t		nlat = 0;

	while ((opt = getopt(argc, argv, "p:s:g:n:c:t:lr:")) != -1)
	{
		switch (opt)
		{
			case 'p': port = atoi(optarg); break;
			case 's': stream = optarg; break;
			case 'g': group = optarg; break;
			case 'n': nworkers = atoi(optarg); break;
			case 'c': count = atoi(optarg); break;
			case 't': seconds = atoi(optarg); break;
			case 'l': latency = 1; break;
			case 'r': rate = atoi(optarg); break;
			default:
				fprintf(stderr, "usage: consumer [-p PORT] [-s STREAM] [-g GROUP] [-n WORKERS] [-c COUNT] [-t SECONDS] [-l] [-r RATE]\n");
				return 2;
		}
	}
	if (nworkers < 1 || count < 1 || seconds < 1 || rate < 0 || rate > 1000000)
	{
		fprintf(stderr, "consumer: bad argument\n");
		return 2;
	}

	create_group();
	deadline_us = clock_us(CLOCK_MONOTONIC) + (int64_t) (seconds + (rate ? 1 : 0)) * 1000000;
	workers = calloc(nworkers, sizeof(Worker));
	if (workers == NULL)
		die("out of memory", NULL);
	for (int i = 0; i < nworkers; i++)
	{
		workers[i].id = i + 1;
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
			die("could not start a thread", NULL);
	}
	if (rate && pthread_create(&producer, NULL, produce, NULL) != 0)
		die("could not start a thread", NULL);
	if (rate)
		pthread_join(producer, NULL);
	for (int i = 0; i < nworkers; i++)
	{
		Worker	   *w = &workers[i];

		pthread_join(w->thread, NULL);
		completed += w->completed;
		if (w->nlat > 0)
		{
			lat = realloc(lat, (nlat + w->nlat) * sizeof(int64_t));
			if (lat == NULL)
				die("out of memory", NULL);
			memcpy(lat + nlat, w->lat, w->nlat * sizeof(int64_t));
			nlat += w->nlat;
		}
		free(w->lat);
	}
	printf("completed %ld\n", completed);
	if (latency)
	{
		if (nlat == 0)
			die("no entries received", NULL);
		qsort(lat, nlat, sizeof(int64_t), cmp_int64);
		printf("latency_us %lld %lld %lld\n", (long long) lat[nlat / 2],
			   (long long) lat[nlat * 99 / 100], (long long) lat[nlat - 1]);
	}
	free(lat);
	free(workers);
	return 0;
}
