/*-------------------------------------------------------------------------
 *
 * url.c
 *		Parsing of --sink URLs (see sink.h).
 *
 * Error messages quote the part of the URL that is wrong, except the user
 * and the password, which are never repeated: a password must not end up
 * in a log.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "sink.h"

#define DEFAULT_REDIS_HOST	"localhost"
#define DEFAULT_REDIS_PORT	6379
#define MAX_QUOTED			64	/* longest piece of URL quoted in an error */
#define SCHEMES_HINT		"(use redis://, unix:// or kafka://)"
#define TLS_UNSUPPORTED \
	"rediss:// (Redis over TLS) is not supported: hiredis 0.14 has no TLS; " \
	"reach a TLS Redis through a tunnel on loopback (stunnel or spiped listening on " \
	"127.0.0.1, then --sink redis://127.0.0.1:PORT) or use a unix socket " \
	"(--sink unix:///path/to/redis.sock)"

static int	url_error(char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* fill err; returns -1 */
static int
url_error(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static char *
dup_range(const char *s, size_t n)
{
	char	   *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * Percent-decode s[0..n) into a new string (NULL if n is 0).  Returns 0,
 * or -1 for a bad escape (or one of a NUL byte) or no memory; *nomem tells.
 */
static int
percent_decode(const char *s, size_t n, char **out, bool *nomem)
{
	char	   *d;
	size_t		i;
	size_t		j = 0;

	*out = NULL;
	*nomem = false;
	if (n == 0)
		return 0;
	if ((d = malloc(n + 1)) == NULL)
	{
		*nomem = true;
		return -1;
	}
	for (i = 0; i < n; i++)
	{
		int			hi;
		int			lo;

		if (s[i] != '%')
		{
			d[j++] = s[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex_digit(s[i + 1])) < 0 ||
			(lo = hex_digit(s[i + 2])) < 0 || (hi == 0 && lo == 0))
		{
			free(d);
			return -1;
		}
		d[j++] = (char) (hi * 16 + lo);
		i += 2;
	}
	d[j] = '\0';
	*out = d;
	return 0;
}

/* a decimal number of at most 10 digits, no sign, within [min, max] */
static bool
parse_number(const char *s, size_t n, long min, long max, int *out)
{
	long		v = 0;
	size_t		i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return false;
	*out = (int) v;
	return true;
}

static int
parse_port(const char *s, size_t n, int *port, char *err, size_t errlen)
{
	if (parse_number(s, n, 1, 65535, port))
		return 0;
	return url_error(err, errlen, "bad port \"%.*s\" in sink URL",
					 (int) (n < MAX_QUOTED ? n : MAX_QUOTED), s);
}

static int
parse_db(const char *s, size_t n, int *db, char *err, size_t errlen)
{
	if (parse_number(s, n, 0, INT_MAX, db))
		return 0;
	return url_error(err, errlen, "bad database number \"%.*s\" in sink URL",
					 (int) (n < MAX_QUOTED ? n : MAX_QUOTED), s);
}

/* a host name or address, or an IPv6 address in brackets */
static bool
valid_host(const char *s, size_t n)
{
	size_t		i;
	bool		bracketed = n >= 2 && s[0] == '[' && s[n - 1] == ']';

	if (bracketed)
	{
		s++;
		n -= 2;
	}
	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
	{
		unsigned char ch = (unsigned char) s[i];

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_')
			continue;
		if (bracketed && (ch == ':' || ch == '%'))
			continue;
		return false;
	}
	return true;
}

/* user[:password] of a redis URL (s[0..n), before the '@') */
static int
parse_userinfo(const char *s, size_t n, SinkUrl *u, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t		ulen = colon ? (size_t) (colon - s) : n;
	bool		nomem;

	if (percent_decode(s, ulen, &u->user, &nomem) != 0)
		return nomem ? url_error(err, errlen, "out of memory") :
			url_error(err, errlen, "bad percent-escape in the user of the sink URL");
	if (colon == NULL)
		return 0;
	if (percent_decode(colon + 1, n - ulen - 1, &u->password, &nomem) != 0)
		return nomem ? url_error(err, errlen, "out of memory") :
			url_error(err, errlen, "bad percent-escape in the password of the sink URL");
	return 0;
}

/* host[:port][/db] of a redis URL */
static int
parse_hostport(const char *s, SinkUrl *u, char *err, size_t errlen)
{
	const char *host = s;
	size_t		hlen;
	const char *p;

	if (*s == '[')
	{
		const char *close = strchr(s, ']');

		if (close == NULL)
			return url_error(err, errlen, "unterminated \"[\" in the host of the sink URL");
		p = close + 1;
		hlen = (size_t) (p - s);
	}
	else
	{
		hlen = strcspn(s, ":/");
		p = s + hlen;
	}
	if ((hlen > 0 && !valid_host(s, hlen)) ||
		(*p != '\0' && *p != ':' && *p != '/'))
	{
		size_t		qlen = (size_t) (p - s) + strcspn(p, ":/");

		return url_error(err, errlen, "bad host \"%.*s\" in sink URL",
						 (int) (qlen < MAX_QUOTED ? qlen : MAX_QUOTED), s);
	}
	if (*s == '[')
	{
		host = s + 1;
		hlen -= 2;
	}
	if (*p == ':')
	{
		size_t		plen = strcspn(p + 1, "/");

		if (parse_port(p + 1, plen, &u->port, err, errlen) != 0)
			return -1;
		p += 1 + plen;
	}
	if (*p == '/' && p[1] != '\0' &&
		parse_db(p + 1, strlen(p + 1), &u->db, err, errlen) != 0)
		return -1;
	u->host = hlen ? dup_range(host, hlen) : strdup(DEFAULT_REDIS_HOST);
	if (u->host == NULL)
		return url_error(err, errlen, "out of memory");
	return 0;
}

/* after "redis://" */
static int
parse_redis(const char *rest, SinkUrl *u, char *err, size_t errlen)
{
	const char *at = strrchr(rest, '@');

	u->kind = SINK_REDIS_TCP;
	u->port = DEFAULT_REDIS_PORT;
	u->db = 0;
	if (at != NULL)
	{
		if (parse_userinfo(rest, (size_t) (at - rest), u, err, errlen) != 0)
			return -1;
		rest = at + 1;
	}
	return parse_hostport(rest, u, err, errlen);
}

/* the query of a unix URL: db=N, parameters joined by '&' */
static int
parse_unix_query(const char *q, SinkUrl *u, char *err, size_t errlen)
{
	while (*q != '\0')
	{
		size_t		len = strcspn(q, "&");
		size_t		nlen = strcspn(q, "=&");

		if (nlen == 2 && strncmp(q, "db", 2) == 0 && q[2] == '=')
		{
			if (parse_db(q + 3, len - 3, &u->db, err, errlen) != 0)
				return -1;
		}
		else if (len > 0)
			return url_error(err, errlen,
							 "unknown parameter \"%.*s\" in unix sink URL (only db is supported)",
							 (int) (nlen < MAX_QUOTED ? nlen : MAX_QUOTED), q);
		q += len;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* after "unix://" */
static int
parse_unix(const char *rest, SinkUrl *u, char *err, size_t errlen)
{
	size_t		plen = strcspn(rest, "?");

	u->kind = SINK_REDIS_UNIX;
	u->db = 0;
	if (rest[0] != '/' || plen < 2)
		return url_error(err, errlen,
						 "unix sink URL needs an absolute socket path, as in unix:///path/to/redis.sock");
	if (rest[plen] == '?' &&
		parse_unix_query(rest + plen + 1, u, err, errlen) != 0)
		return -1;
	if ((u->path = dup_range(rest, plen)) == NULL)
		return url_error(err, errlen, "out of memory");
	return 0;
}

/* one host:port of a kafka URL */
static int
check_broker(const char *s, size_t n, char *err, size_t errlen)
{
	const char *colon = NULL;
	size_t		i;
	int			port;

	if (memchr(s, '@', n) != NULL)
		return url_error(err, errlen,
						 "kafka sink URL cannot carry credentials (set them as kafka properties)");
	for (i = 0; i < n; i++)
		if (s[i] == ':')
			colon = s + i;
	if (colon == NULL || !valid_host(s, (size_t) (colon - s)))
		return url_error(err, errlen,
						 "bad broker \"%.*s\" in kafka sink URL (want host:port)",
						 (int) (n < MAX_QUOTED ? n : MAX_QUOTED), s);
	return parse_port(colon + 1, n - (size_t) (colon + 1 - s), &port,
					  err, errlen);
}

/* after "kafka://" */
static int
parse_kafka(const char *rest, SinkUrl *u, char *err, size_t errlen)
{
	const char *p = rest;

	u->kind = SINK_KAFKA;
	if (*rest == '\0')
		return url_error(err, errlen, "kafka sink URL needs at least one host:port");
	for (;;)
	{
		size_t		n = strcspn(p, ",");

		if (check_broker(p, n, err, errlen) != 0)
			return -1;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if ((u->brokers = strdup(rest)) == NULL)
		return url_error(err, errlen, "out of memory");
	return 0;
}

/* does the scheme s[0..n) look like one (letters, digits, + - .) */
static bool
plausible_scheme(const char *s, size_t n)
{
	size_t		i;

	if (n == 0 || n > 32 || !isalpha((unsigned char) s[0]))
		return false;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char) s[i]) &&
			s[i] != '+' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

int
sink_url_parse(const char *url, SinkUrl *out, char *err, size_t errlen)
{
	const char *sep;
	size_t		slen;
	int			rc;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (url == NULL || *url == '\0')
		return url_error(err, errlen, "empty sink URL " SCHEMES_HINT);
	sep = strstr(url, "://");
	slen = sep ? (size_t) (sep - url) : 0;
	if (sep == NULL || !plausible_scheme(url, slen))
		return url_error(err, errlen, "sink URL has no scheme " SCHEMES_HINT);
	if (slen == 5 && strncasecmp(url, "redis", 5) == 0)
		rc = parse_redis(sep + 3, out, err, errlen);
	else if (slen == 4 && strncasecmp(url, "unix", 4) == 0)
		rc = parse_unix(sep + 3, out, err, errlen);
	else if (slen == 5 && strncasecmp(url, "kafka", 5) == 0)
		rc = parse_kafka(sep + 3, out, err, errlen);
	else if (slen == 6 && strncasecmp(url, "rediss", 6) == 0)
		return url_error(err, errlen, "%s", TLS_UNSUPPORTED);
	else
		return url_error(err, errlen,
						 "unsupported sink URL scheme \"%.*s\" " SCHEMES_HINT,
						 (int) slen, url);
	if (rc != 0)
		sink_url_free(out);
	return rc;
}

void
sink_url_free(SinkUrl *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->path);
	free(u->user);
	free(u->password);
	free(u->brokers);
	memset(u, 0, sizeof(*u));
}

/*
 * What to say after Redis answers NOAUTH (no password given) or WRONGPASS
 * (a wrong user or password).  The password itself is never repeated.
 */
const char *
sink_url_auth_hint(bool password_given)
{
	if (password_given)
		return "Redis refused the user or password: check WAL2QUEUE_REDIS_PASSWORD "
			"or the user:password in --sink redis://[user]:password@host:port "
			"(percent-escape @ : / % in them)";
	return "Redis wants a password: set WAL2QUEUE_REDIS_PASSWORD, or give it in "
		"--sink redis://[user]:password@host:port (percent-escape @ : / % in it)";
}
