/*-------------------------------------------------------------------------
 *
 * json_row.c
 *		Rows as JSON objects with the plugin's JSON typing.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "json_row.h"

#define JSON_BUF_MIN 256

void
json_buf_init(JsonBuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
json_buf_reset(JsonBuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
json_buf_free(JsonBuf *b)
{
	free(b->data);
	json_buf_init(b);
}

/* room for n more bytes and the terminating zero */
static int
json_reserve(JsonBuf *b, size_t n)
{
	size_t		need = b->len + n + 1;
	size_t		cap;
	char	   *p;

	if (need < n)
		return -1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : JSON_BUF_MIN;
	while (cap < need)
	{
		if (cap > SIZE_MAX / 2)
		{
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
json_append_raw(JsonBuf *b, const char *s, size_t len)
{
	if (json_reserve(b, len) != 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* the escape sequence for byte c, or NULL if c stands for itself */
static const char *
json_escape_of(unsigned char c, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	switch (c)
	{
		case '\b':
			return "\\b";
		case '\f':
			return "\\f";
		case '\n':
			return "\\n";
		case '\r':
			return "\\r";
		case '\t':
			return "\\t";
		case '"':
			return "\\\"";
		case '\\':
			return "\\\\";
		default:
			if (c >= 0x20)
				return NULL;
			memcpy(buf, "\\u00", 4);
			buf[4] = hex[c >> 4];
			buf[5] = hex[c & 15];
			buf[6] = '\0';
			return buf;
	}
}

int
json_append_string(JsonBuf *b, const char *s, size_t len)
{
	size_t		i;
	size_t		run = 0;		/* start of the bytes not yet copied */

	if (len == 0)
		return json_append_raw(b, "\"\"", 2);
	if (json_reserve(b, len + 2) != 0)
		return -1;
	b->data[b->len++] = '"';
	for (i = 0; i < len; i++)
	{
		char		buf[8];
		const char *esc = json_escape_of((unsigned char) s[i], buf);

		if (esc == NULL)
			continue;
		if (json_append_raw(b, s + run, i - run) != 0 ||
			json_append_raw(b, esc, strlen(esc)) != 0)
			return -1;
		run = i + 1;
	}
	if (json_append_raw(b, s + run, len - run) != 0)
		return -1;
	return json_append_raw(b, "\"", 1);
}

static bool
bytes_equal(const FrameBytes *v, const char *s)
{
	size_t		n = strlen(s);

	return v->len == n && memcmp(v->data, s, n) == 0;
}

int
json_append_value(JsonBuf *b, char kind, const FrameValue *v)
{
	const FrameBytes *d = &v->data;

	if (v->isnull)
		return json_append_raw(b, "null", 4);
	switch (kind)
	{
		case W2Q_KIND_NUMBER:
			if (bytes_equal(d, "NaN") || bytes_equal(d, "Infinity") ||
				bytes_equal(d, "-Infinity"))
				return json_append_string(b, d->data, d->len);
			return json_append_raw(b, d->data, d->len);
		case W2Q_KIND_BOOL:
			if (d->len > 0 && d->data[0] == 't')
				return json_append_raw(b, "true", 4);
			return json_append_raw(b, "false", 5);
		case W2Q_KIND_JSON:
			return json_append_raw(b, d->data, d->len);
		default:
			return json_append_string(b, d->data, d->len);
	}
}

int
json_row(JsonBuf *b, const FrameRelation *rel, const FrameValue *values)
{
	uint32_t	i;

	json_buf_reset(b);
	if (json_append_raw(b, "{", 1) != 0)
		return -1;
	for (i = 0; i < rel->ncols; i++)
	{
		const FrameColumn *col = &rel->cols[i];

		if ((i > 0 && json_append_raw(b, ",", 1) != 0) ||
			json_append_string(b, col->name.data, col->name.len) != 0 ||
			json_append_raw(b, ":", 1) != 0 ||
			json_append_value(b, col->kind, &values[i]) != 0)
			return -1;
	}
	return json_append_raw(b, "}", 1);
}
