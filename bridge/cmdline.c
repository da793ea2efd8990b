/*-------------------------------------------------------------------------
 *
 * cmdline.c
 *		The bridge's command line as a POSIX shell command for hints (the
 *		lost slot's recovery command), with the secrets it may carry masked
 *		as ***: a hint goes into the log, the journal and whatever ships
 *		them, and must never carry a password.
 *
 * Masked: in -d, the password and sslpassword of a key=value conninfo
 * (quoted or not) and of a postgresql:// URI (user:password@, or
 * ?password=); in --sink, the password of redis://[user]:password@; in -X,
 * the value of a property whose name holds "password" or "secret", and of
 * sasl.oauthbearer.config, sasl.oauthbearer.extensions and ssl.key.pem.
 * Everything else is kept, so the command stays copy-pasteable once the
 * secrets are put back.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdline.h"

/* a growing string; out of memory leaves data NULL */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_add(Buf *b, const char *s, size_t n)
{
	if (b->data == NULL && b->cap != 0)
		return;					/* an earlier allocation failed */
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = (b->len + n + 1) * 2 + 64;
		char	   *d = realloc(b->data, cap);

		if (d == NULL)
		{
			free(b->data);
			b->data = NULL;
			b->cap = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static char *
buf_done(Buf *b)
{
	if (b->data == NULL && b->cap == 0)
		buf_add(b, "", 0);
	return b->data;
}

static void
add_mask(Buf *b, bool *masked)
{
	buf_str(b, CMDLINE_MASK);
	*masked = true;
}

/* is s[0..n), percent-decoded, one of libpq's secret keywords */
static bool
conn_secret_key(const char *s, size_t n, bool decode)
{
	char		key[16];
	size_t		k = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (k + 1 >= sizeof(key))
			return false;
		if (decode && c == '%' && i + 2 < n &&
			isxdigit((unsigned char) s[i + 1]) && isxdigit((unsigned char) s[i + 2]))
		{
			char		hex[3] = {s[i + 1], s[i + 2], '\0'};

			c = (char) strtol(hex, NULL, 16);
			i += 2;
		}
		key[k++] = c;
	}
	key[k] = '\0';
	return strcmp(key, "password") == 0 || strcmp(key, "sslpassword") == 0;
}

/* postgresql://[user[:password]@][netloc][/db][?k=v&...], after the scheme */
static void
mask_uri(Buf *b, const char *p, bool *masked)
{
	const char *start = p;
	const char *q;

	/* libpq's look-ahead: user info ends at the first '@' before any '/' */
	while (*p && *p != '@' && *p != '/')
		p++;
	if (*p == '@')
	{
		const char *colon = memchr(start, ':', (size_t) (p - start));

		if (colon)
		{
			buf_add(b, start, (size_t) (colon + 1 - start));
			add_mask(b, masked);
		}
		else
			buf_add(b, start, (size_t) (p - start));
	}
	else
		p = start;
	if ((q = strchr(p, '?')) == NULL)
	{
		buf_str(b, p);
		return;
	}
	buf_add(b, p, (size_t) (q + 1 - p));
	for (p = q + 1; *p;)
	{
		size_t		len = strcspn(p, "&");
		size_t		klen = strcspn(p, "=&");

		if (klen < len && conn_secret_key(p, klen, true))
		{
			buf_add(b, p, klen + 1);
			add_mask(b, masked);
		}
		else
			buf_add(b, p, len);
		p += len;
		if (*p == '&')
			buf_add(b, p++, 1);
	}
}

/* key = value ... as libpq's conninfo_parse() reads it */
static void
mask_keyvalue(Buf *b, const char *p, bool *masked)
{
	while (*p)
	{
		const char *key = p;
		size_t		klen;
		bool		secret;

		if (isspace((unsigned char) *p))
		{
			buf_add(b, p++, 1);
			continue;
		}
		while (*p && !isspace((unsigned char) *p) && *p != '=')
			p++;
		klen = (size_t) (p - key);
		secret = conn_secret_key(key, klen, false);
		buf_add(b, key, klen);
		while (isspace((unsigned char) *p))
			buf_add(b, p++, 1);
		if (*p != '=')
		{
			/* not a conninfo libpq accepts: keep nothing of the rest */
			add_mask(b, masked);
			return;
		}
		buf_add(b, p++, 1);
		while (isspace((unsigned char) *p))
			buf_add(b, p++, 1);
		key = p;
		if (*p == '\'')
		{
			for (p++; *p && *p != '\''; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p == '\'')
				p++;
		}
		else
			for (; *p && !isspace((unsigned char) *p); p++)
				if (*p == '\\' && p[1])
					p++;
		if (secret)
			add_mask(b, masked);
		else
			buf_add(b, key, (size_t) (p - key));
	}
}

char *
cmdline_mask_conninfo(const char *value, bool *masked)
{
	Buf			b = {0};

	if (strncmp(value, "postgresql://", 13) == 0 || strncmp(value, "postgres://", 11) == 0)
	{
		size_t		plen = value[8] == ':' ? 11 : 13;

		buf_add(&b, value, plen);
		mask_uri(&b, value + plen, masked);
	}
	else if (strchr(value, '=') == NULL)
		buf_str(&b, value);		/* a database name */
	else
		mask_keyvalue(&b, value, masked);
	return buf_done(&b);
}

char *
cmdline_mask_sink_url(const char *value, bool *masked)
{
	Buf			b = {0};
	const char *rest = strstr(value, "://");
	const char *at;
	const char *colon;

	/* url.c: the user info of redis:// ends at the last '@' */
	if (rest == NULL || rest - value != 5 || strncasecmp(value, "redis", 5) != 0 ||
		(at = strrchr(rest + 3, '@')) == NULL ||
		(colon = memchr(rest + 3, ':', (size_t) (at - rest - 3))) == NULL)
	{
		buf_str(&b, value);
		return buf_done(&b);
	}
	buf_add(&b, value, (size_t) (colon + 1 - value));
	add_mask(&b, masked);
	buf_str(&b, at);
	return buf_done(&b);
}

/* a librdkafka property whose value is a secret */
static bool
secret_property(const char *name, size_t n)
{
	static const char *const names[] = {
		"sasl.oauthbearer.config", "sasl.oauthbearer.extensions", "ssl.key.pem", NULL
	};
	char		lower[128];

	if (n >= sizeof(lower))
		return true;			/* no such property: keep nothing */
	for (size_t i = 0; i < n; i++)
		lower[i] = (char) tolower((unsigned char) name[i]);
	lower[n] = '\0';
	if (strstr(lower, "password") || strstr(lower, "secret"))
		return true;
	for (int i = 0; names[i]; i++)
		if (strcmp(lower, names[i]) == 0)
			return true;
	return false;
}

char *
cmdline_mask_property(const char *value, bool *masked)
{
	Buf			b = {0};
	const char *eq = strchr(value, '=');

	if (eq && secret_property(value, (size_t) (eq - value)))
	{
		buf_add(&b, value, (size_t) (eq + 1 - value));
		add_mask(&b, masked);
	}
	else
		buf_str(&b, value);
	return buf_done(&b);
}

/* one word, quoted for a POSIX shell unless it needs no quotes */
static void
add_word(Buf *b, const char *w)
{
	bool		plain = w[0] != '\0';

	for (const char *c = w; *c; c++)
		if (!isalnum((unsigned char) *c) && !strchr("-_=./:,@%+", *c))
			plain = false;
	buf_add(b, " ", 1);
	if (plain)
	{
		buf_str(b, w);
		return;
	}
	buf_add(b, "'", 1);
	for (const char *c = w; *c; c++)
		if (*c == '\'')
			buf_str(b, "'\\''");
		else
			buf_add(b, c, 1);
	buf_add(b, "'", 1);
}

/* prefix + value masked as option code val's value, as one word */
static void
add_value(Buf *b, const char *prefix, size_t plen, const char *value, int val,
		  const CmdlineSecrets *secrets, bool *masked)
{
	Buf			w = {0};
	char	   *m;

	if (val == secrets->conninfo)
		m = cmdline_mask_conninfo(value, masked);
	else if (val == secrets->sink_url)
		m = cmdline_mask_sink_url(value, masked);
	else if (val == secrets->property)
		m = cmdline_mask_property(value, masked);
	else
		m = strdup(value);
	buf_add(&w, prefix, plen);
	if (m != NULL)
		buf_str(&w, m);
	else
		w.data = (free(w.data), NULL);
	free(m);
	if (w.data == NULL)
	{
		free(w.data);
		free(b->data);
		b->data = NULL;
		b->cap = 1;
		return;
	}
	add_word(b, w.data);
	free(w.data);
}

/* the long option name[0..n) names, as getopt_long finds it (exact or a unique prefix) */
static const struct option *
find_long(const struct option *longopts, const char *name, size_t n)
{
	const struct option *found = NULL;

	for (const struct option *o = longopts; o->name; o++)
	{
		if (strncmp(o->name, name, n) != 0)
			continue;
		if (o->name[n] == '\0')
			return o;
		if (found)
			return NULL;		/* ambiguous: getopt_long refused it */
		found = o;
	}
	return found;
}

/* one argument beginning with '-'; returns how many more it took */
static int
add_option(Buf *b, const char *a, const char *next, const char *optstring,
		   const struct option *longopts, const CmdlineSecrets *secrets, bool *masked)
{
	if (a[1] == '-')
	{
		const char *eq = strchr(a + 2, '=');
		const struct option *o = find_long(longopts, a + 2, eq ? (size_t) (eq - a - 2) : strlen(a + 2));

		if (o && o->has_arg != no_argument && eq)
			add_value(b, a, (size_t) (eq + 1 - a), eq + 1, o->val, secrets, masked);
		else if (o && o->has_arg == required_argument && next)
		{
			add_word(b, a);
			add_value(b, "", 0, next, o->val, secrets, masked);
			return 1;
		}
		else
			add_word(b, a);
		return 0;
	}
	for (size_t j = 1; a[j]; j++)
	{
		const char *s = a[j] == ':' ? NULL : strchr(optstring, a[j]);

		if (s == NULL || s[1] != ':')
			continue;
		if (a[j + 1])
			add_value(b, a, j + 1, a + j + 1, (unsigned char) a[j], secrets, masked);
		else
		{
			add_word(b, a);
			if (next == NULL)
				return 0;
			add_value(b, "", 0, next, (unsigned char) a[j], secrets, masked);
			return 1;
		}
		return 0;
	}
	add_word(b, a);
	return 0;
}

char *
cmdline_redacted(int argc, char **argv, const char *prog, const char *optstring,
				 const struct option *longopts, const CmdlineSecrets *secrets, bool *masked)
{
	Buf			b = {0};
	bool		operands = false;

	*masked = false;
	buf_str(&b, prog);
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (operands || a[0] != '-' || a[1] == '\0')
			add_word(&b, a);
		else if (strcmp(a, "--") == 0)
		{
			operands = true;
			add_word(&b, a);
		}
		else
			i += add_option(&b, a, i + 1 < argc ? argv[i + 1] : NULL, optstring,
							longopts, secrets, masked);
	}
	return buf_done(&b);
}
