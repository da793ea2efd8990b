/*-------------------------------------------------------------------------
 *
 * backfill_key.c
 *		The backfill's position key and state: a key is the JSON array of
 *		the key columns' texts in index order, NULL as null (["42"],
 *		["a,b","7"]), the form the sinks store and docs/operations.md
 *		documents.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "errbuf.h"
#include "hex.h"

void
backfill_state_free(BackfillState *st)
{
	free(st->snapshot);
	free(st->condition);
	free(st->table);
	free(st->key);
	free(st->storage);
	free(st->label);
	free(st->keydef);
	free(st->tables_done);
	memset(st, 0, sizeof(*st));
}

static bool
dup_into(char **dst, const char *src)
{
	char	   *d = strdup(src ? src : "");

	if (d == NULL)
		return false;
	free(*dst);
	*dst = d;
	return true;
}

bool
backfill_state_copy(BackfillState *dst, const BackfillState *src)
{
	dst->present = src->present;
	dst->lsn = src->lsn;
	dst->seq = src->seq;
	dst->rows = src->rows;
	dst->done = src->done;
	dst->by_oid = src->by_oid;
	dst->table_oid = src->table_oid;
	return dup_into(&dst->tables_done, src->tables_done) &&
		dup_into(&dst->snapshot, src->snapshot) &&
		dup_into(&dst->condition, src->condition) &&
		dup_into(&dst->table, src->table) &&
		dup_into(&dst->key, src->key) &&
		dup_into(&dst->storage, src->storage) &&
		dup_into(&dst->label, src->label) &&
		dup_into(&dst->keydef, src->keydef);
}

/* append s (or null) as a JSON string at out+*pos; out is large enough */
static void
put_json(char *out, size_t *pos, const char *s)
{
	if (s == NULL)
	{
		memcpy(out + *pos, "null", 4);
		*pos += 4;
		return;
	}
	out[(*pos)++] = '"';
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			out[(*pos)++] = '\\';
			out[(*pos)++] = (char) c;
		}
		else if (c < ' ')
			*pos += sprintf(out + *pos, "\\u%04x", c);
		else
			out[(*pos)++] = (char) c;
	}
	out[(*pos)++] = '"';
}

char *
backfill_key_format(const char *const *vals, int n)
{
	size_t		cap = 3;
	size_t		pos = 0;
	char	   *out;

	for (int i = 0; i < n; i++)
		cap += vals[i] ? 6 * strlen(vals[i]) + 3 : 5;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	out[pos++] = '[';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			out[pos++] = ',';
		put_json(out, &pos, vals[i]);
	}
	out[pos++] = ']';
	out[pos] = '\0';
	return out;
}

void
backfill_key_free(char **vals, int n)
{
	for (int i = 0; vals && i < n; i++)
		free(vals[i]);
	free(vals);
}

/* one JSON string at *p (after its quote) into a new string; NULL if bad */
static char *
parse_string(const char **p, const char **why)
{
	const char *s = *p;
	char	   *out = malloc(strlen(s) + 1);
	size_t		n = 0;

	if (out == NULL)
		return (*why = "out of memory", NULL);
	for (; *s && *s != '"'; s++)
	{
		if ((unsigned char) *s < ' ')
			return (free(out), *why = "a control character in a string", NULL);
		if (*s != '\\')
		{
			out[n++] = *s;
			continue;
		}
		s++;
		switch (*s)
		{
			case '"': case '\\': case '/': out[n++] = *s; break;
			case 'b': out[n++] = '\b'; break;
			case 'f': out[n++] = '\f'; break;
			case 'n': out[n++] = '\n'; break;
			case 'r': out[n++] = '\r'; break;
			case 't': out[n++] = '\t'; break;
			case 'u':
				{
					int			v = 0;

					for (int i = 1; i <= 4; i++)
					{
						int			h = hex_digit(s[i]);

						if (h < 0)
							return (free(out), *why = "a bad \\u escape", NULL);
						v = v * 16 + h;
					}
					if (v == 0 || v >= 0x80)
						return (free(out), *why = "a \\u escape other than an ASCII character", NULL);
					out[n++] = (char) v;
					s += 4;
					break;
				}
			default:
				return (free(out), *why = "a bad escape", NULL);
		}
	}
	if (*s != '"')
		return (free(out), *why = "an unterminated string", NULL);
	out[n] = '\0';
	*p = s + 1;
	return out;
}

int
backfill_key_parse(const char *json, char ***vals, char *err, size_t errlen)
{
	const char *p = json;
	const char *why = NULL;
	char	  **v = calloc(strlen(json) / 2 + 1, sizeof(char *));
	int			n = 0;

	*vals = NULL;
	if (v == NULL)
		return errbuf_set(err, errlen, -1, "out of memory");
	if (*p++ != '[')
		why = "it does not begin with [";
	while (why == NULL && *p != ']')
	{
		if (n > 0 && *p++ != ',')
		{
			why = "values are not separated by commas";
			break;
		}
		if (strncmp(p, "null", 4) == 0)
		{
			v[n++] = NULL;
			p += 4;
		}
		else if (*p == '"')
		{
			p++;
			if ((v[n] = parse_string(&p, &why)) != NULL)
				n++;
		}
		else
			why = "a value is neither a string nor null";
	}
	if (why == NULL && n == 0)
		why = "it is empty";
	if (why == NULL && p[1] != '\0')
		why = "something follows its ]";
	if (why != NULL)
	{
		backfill_key_free(v, n);
		return errbuf_set(err, errlen, -1,
						  "invalid backfill key %.200s: %s (a JSON array of strings)",
						  json, why);
	}
	*vals = v;
	return n;
}
