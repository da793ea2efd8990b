/*-------------------------------------------------------------------------
 *
 * test_url.c
 *		Unit tests of --sink URL parsing.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "unit.h"

/* a URL that parses, and what it must give */
typedef struct GoodUrl
{
	const char *url;
	SinkKind	kind;
	const char *host;
	int			port;
	const char *path;
	const char *user;
	const char *password;
	int			db;
	const char *brokers;
} GoodUrl;

static const GoodUrl good[] = {
	{"redis://", SINK_REDIS_TCP, "localhost", 6379, NULL, NULL, NULL, 0, NULL},
	{"redis://localhost", SINK_REDIS_TCP, "localhost", 6379, NULL, NULL, NULL, 0, NULL},
	{"redis://cache.example.com:6380", SINK_REDIS_TCP, "cache.example.com", 6380, NULL, NULL, NULL, 0, NULL},
	{"redis://10.0.0.5:6379/3", SINK_REDIS_TCP, "10.0.0.5", 6379, NULL, NULL, NULL, 3, NULL},
	{"redis://my-host_1.example:6379", SINK_REDIS_TCP, "my-host_1.example", 6379, NULL, NULL, NULL, 0, NULL},
	{"redis://h/15", SINK_REDIS_TCP, "h", 6379, NULL, NULL, NULL, 15, NULL},
	{"redis://h/", SINK_REDIS_TCP, "h", 6379, NULL, NULL, NULL, 0, NULL},
	{"redis://:6390", SINK_REDIS_TCP, "localhost", 6390, NULL, NULL, NULL, 0, NULL},
	{"redis://:secret@h", SINK_REDIS_TCP, "h", 6379, NULL, NULL, "secret", 0, NULL},
	{"redis://alice:secret@h:1/2", SINK_REDIS_TCP, "h", 1, NULL, "alice", "secret", 2, NULL},
	{"redis://alice@h", SINK_REDIS_TCP, "h", 6379, NULL, "alice", NULL, 0, NULL},
	{"redis://alice:@h", SINK_REDIS_TCP, "h", 6379, NULL, "alice", NULL, 0, NULL},
	{"redis://a%40b:p%3Aw%2Fd%25@h", SINK_REDIS_TCP, "h", 6379, NULL, "a@b", "p:w/d%", 0, NULL},
	{"redis://:p@ss:w/rd@h:7000", SINK_REDIS_TCP, "h", 7000, NULL, NULL, "p@ss:w/rd", 0, NULL},
	{"redis://[::1]:6381/4", SINK_REDIS_TCP, "::1", 6381, NULL, NULL, NULL, 4, NULL},
	{"REDIS://h:65535", SINK_REDIS_TCP, "h", 65535, NULL, NULL, NULL, 0, NULL},
	{"unix:///var/run/redis.sock", SINK_REDIS_UNIX, NULL, 0, "/var/run/redis.sock", NULL, NULL, 0, NULL},
	{"unix:///tmp/r.sock?db=7", SINK_REDIS_UNIX, NULL, 0, "/tmp/r.sock", NULL, NULL, 7, NULL},
	{"unix:///tmp/r.sock?", SINK_REDIS_UNIX, NULL, 0, "/tmp/r.sock", NULL, NULL, 0, NULL},
	{"kafka://k1:9092", SINK_KAFKA, NULL, 0, NULL, NULL, NULL, 0, "k1:9092"},
	{"kafka://k1:9092,k2:9093,[::1]:9094", SINK_KAFKA, NULL, 0, NULL, NULL, NULL, 0, "k1:9092,k2:9093,[::1]:9094"},
};

/* a URL that does not parse, and the message */
typedef struct BadUrl
{
	const char *url;
	const char *err;
} BadUrl;

static const BadUrl bad[] = {
	{"", "empty sink URL (use redis://, unix:// or kafka://)"},
	{"localhost:6379", "sink URL has no scheme (use redis://, unix:// or kafka://)"},
	{"user:secret@h://x", "sink URL has no scheme (use redis://, unix:// or kafka://)"},
	{"http://h", "unsupported sink URL scheme \"http\" (use redis://, unix:// or kafka://)"},
	{"rediss://h", "rediss:// (Redis over TLS) is not supported: hiredis 0.14 has no TLS; "
	 "reach a TLS Redis through a tunnel on loopback (stunnel or spiped listening on "
	 "127.0.0.1, then --sink redis://127.0.0.1:PORT) or use a unix socket "
	 "(--sink unix:///path/to/redis.sock)"},
	{"REDISS://:secret@h:6380", "rediss:// (Redis over TLS) is not supported: hiredis 0.14 has no TLS; "
	 "reach a TLS Redis through a tunnel on loopback (stunnel or spiped listening on "
	 "127.0.0.1, then --sink redis://127.0.0.1:PORT) or use a unix socket "
	 "(--sink unix:///path/to/redis.sock)"},
	{"redis://h:x", "bad port \"x\" in sink URL"},
	{"redis://h:", "bad port \"\" in sink URL"},
	{"redis://h:0", "bad port \"0\" in sink URL"},
	{"redis://h:65536", "bad port \"65536\" in sink URL"},
	{"redis://h:-1", "bad port \"-1\" in sink URL"},
	{"redis://h:99999999999999", "bad port \"99999999999999\" in sink URL"},
	{"redis://h/abc", "bad database number \"abc\" in sink URL"},
	{"redis://h/-1", "bad database number \"-1\" in sink URL"},
	{"redis://h/1/2", "bad database number \"1/2\" in sink URL"},
	{"redis://h/3000000000", "bad database number \"3000000000\" in sink URL"},
	{"redis://[::1", "unterminated \"[\" in the host of the sink URL"},
	{"redis://[::1]x:1", "bad host \"[::1]x\" in sink URL"},
	{"redis://[]:1", "bad host \"[]\" in sink URL"},
	{"redis://h?db=1", "bad host \"h?db=1\" in sink URL"},
	{"redis://h h", "bad host \"h h\" in sink URL"},
	{"redis://u:bad%zzsecret@h", "bad percent-escape in the password of the sink URL"},
	{"redis://u:secret%4@h", "bad percent-escape in the password of the sink URL"},
	{"redis://u:secret%00@h", "bad percent-escape in the password of the sink URL"},
	{"redis://b%g0d:secret@h", "bad percent-escape in the user of the sink URL"},
	{"unix://", "unix sink URL needs an absolute socket path, as in unix:///path/to/redis.sock"},
	{"unix://relative.sock", "unix sink URL needs an absolute socket path, as in unix:///path/to/redis.sock"},
	{"unix:///s.sock?db=x", "bad database number \"x\" in sink URL"},
	{"unix:///s.sock?password=secret", "unknown parameter \"password\" in unix sink URL (only db is supported)"},
	{"kafka://", "kafka sink URL needs at least one host:port"},
	{"kafka://k1", "bad broker \"k1\" in kafka sink URL (want host:port)"},
	{"kafka://k1:9092,", "bad broker \"\" in kafka sink URL (want host:port)"},
	{"kafka://:9092", "bad broker \":9092\" in kafka sink URL (want host:port)"},
	{"kafka://k1:x", "bad port \"x\" in sink URL"},
	{"kafka://k1:9092/", "bad port \"9092/\" in sink URL"},
	{"kafka://k/1:9092", "bad broker \"k/1:9092\" in kafka sink URL (want host:port)"},
	{"kafka://u:secret@k1:9092", "kafka sink URL cannot carry credentials (set them as kafka properties)"},
};

static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
test_good(void)
{
	size_t		i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		const GoodUrl *g = &good[i];
		SinkUrl		u;
		char		err[SINK_ERRLEN] = "x";
		int			rc = sink_url_parse(g->url, &u, err, sizeof(err));

		if (!unit_check(rc == 0 && err[0] == '\0', "%s parses", g->url))
		{
			printf("#   error: %s\n", err);
			continue;
		}
		unit_check(u.kind == g->kind && same(u.host, g->host) &&
				   (g->kind != SINK_REDIS_TCP || u.port == g->port) &&
				   same(u.path, g->path) && same(u.user, g->user) &&
				   same(u.password, g->password) && u.db == g->db &&
				   same(u.brokers, g->brokers),
				   "%s gives its parts", g->url);
		sink_url_free(&u);
		unit_check(u.host == NULL && u.password == NULL && u.brokers == NULL,
				   "%s freed", g->url);
	}
}

static void
test_bad(void)
{
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		const BadUrl *b = &bad[i];
		SinkUrl		u;
		char		err[SINK_ERRLEN];
		char		desc[256];
		int			rc = sink_url_parse(b->url, &u, err, sizeof(err));

		snprintf(desc, sizeof(desc), "\"%s\" is refused", b->url);
		unit_check(rc == -1 && u.host == NULL && u.user == NULL &&
				   u.password == NULL && u.path == NULL && u.brokers == NULL,
				   "%s, leaving nothing allocated", desc);
		unit_check_str(err, b->err, desc);
		unit_check(strstr(err, "secret") == NULL,
				   "\"%s\": the error does not show the password", b->url);
	}
}

static void
test_edges(void)
{
	SinkUrl		u;
	char		err[16];
	int			rc;

	rc = sink_url_parse(NULL, &u, err, sizeof(err));
	unit_check(rc == -1, "a NULL URL is refused");
	rc = sink_url_parse("http://h", &u, err, sizeof(err));
	unit_check(rc == -1 && strlen(err) == sizeof(err) - 1,
			   "the message is cut to a small buffer");
	rc = sink_url_parse("http://h", &u, NULL, 0);
	unit_check(rc == -1, "an error without an error buffer");
	sink_url_free(NULL);
	unit_check(true, "sink_url_free(NULL) is harmless");
}

static void
test_auth_hint(void)
{
	const char *none = sink_url_auth_hint(false);
	const char *wrong = sink_url_auth_hint(true);

	unit_check(strstr(none, "WAL2QUEUE_REDIS_PASSWORD") && strstr(none, "redis://"),
			   "NOAUTH: the hint names WAL2QUEUE_REDIS_PASSWORD and the URL");
	unit_check(strstr(wrong, "WAL2QUEUE_REDIS_PASSWORD") && strstr(wrong, "redis://") &&
			   strcmp(none, wrong) != 0,
			   "WRONGPASS: a hint of its own, naming both too");
}

int
main(void)
{
	test_auth_hint();
	test_good();
	test_bad();
	test_edges();
	return unit_done();
}
