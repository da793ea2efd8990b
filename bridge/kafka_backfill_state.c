/*-------------------------------------------------------------------------
 *
 * kafka_backfill_state.c
 *		The text of the Kafka backfill state record (kafka_backfill.c):
 *		lines "name=value" after a magic line; table and condition as JSON
 *		arrays of one string, so that no value holds a newline.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "kafka_sink.h"
#include "lsn.h"

#define STATE_MAGIC		"wal2queue backfill state 1"

/* one string as a JSON array of one, so that it holds no newline */
static char *
json1(const char *s)
{
	const char *v[1] = {s ? s : ""};

	return backfill_key_format(v, 1);
}

char *
kafka_backfill_state_format(const char *source, uint64_t page, const BackfillState *st,
							const char *next_topics)
{
	char	   *table = json1(st->table);
	char	   *cond = json1(st->condition);
	char	   *keydef = json1(st->keydef);
	char		lsn[LSN_STRLEN];
	char	   *out = NULL;
	size_t		len;

	lsn_format(st->lsn, lsn, sizeof(lsn));
	if (table && cond && keydef)
	{
		len = strlen(source) + strlen(table) + strlen(cond) + strlen(st->key ? st->key : "") +
			strlen(st->snapshot ? st->snapshot : "") + strlen(st->storage ? st->storage : "") +
			strlen(st->label ? st->label : "") + strlen(keydef) +
			strlen(st->tables_done ? st->tables_done : "") +
			strlen(next_topics ? next_topics : "") + 256;
		if ((out = malloc(len)) != NULL)
			snprintf(out, len, STATE_MAGIC "\nsource=%s\npage=%" PRIu64 "\nlsn=%s\nseq=%" PRIu64
					 "\nrows=%" PRIu64 "\ndone=%d\nsnapshot=%s\ntable=%s\nkey=%s\ncondition=%s\n"
					 "storage=%s\nlabel=%s\nkeydef=%s\ntable_oid=%" PRIu32 "\ntables_done=%s\n"
					 "%s%s%s",
					 source, page, lsn, st->seq, st->rows, st->done ? 1 : 0,
					 st->snapshot ? st->snapshot : "", table, st->key ? st->key : "", cond,
					 st->storage ? st->storage : "", st->label ? st->label : "", keydef,
					 st->table_oid, st->tables_done ? st->tables_done : "",
					 next_topics ? "next_topics=" : "", next_topics ? next_topics : "",
					 next_topics ? "\n" : "");
	}
	free(table);
	free(cond);
	free(keydef);
	return out;
}

/* the value of field name (a line "name=value") as a malloc'd string */
static char *
state_field(const char *text, size_t len, const char *name)
{
	size_t		nl = strlen(name);
	const char *p = text;
	const char *end = text + len;

	while (p < end)
	{
		const char *eol = memchr(p, '\n', end - p);

		if (eol == NULL)
			eol = end;
		if ((size_t) (eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=')
			return strndup(p + nl + 1, eol - p - nl - 1);
		p = eol + 1;
	}
	return NULL;
}

static bool
state_u64(const char *text, size_t len, const char *name, uint64_t *out)
{
	char	   *v = state_field(text, len, name);
	char	   *e = NULL;
	bool		ok = v && v[0] >= '0' && v[0] <= '9';

	if (ok)
		*out = strtoull(v, &e, 10);
	ok = ok && *e == '\0';
	free(v);
	return ok;
}

/* a field written by json1 */
static char *
state_json1(const char *text, size_t len, const char *name)
{
	char	   *v = state_field(text, len, name);
	char	  **vals = NULL;
	char		err[128];
	char	   *out = NULL;
	int			n = v ? backfill_key_parse(v, &vals, err, sizeof(err)) : -1;

	if (n == 1 && vals[0])
	{
		out = vals[0];
		vals[0] = NULL;
	}
	if (n > 0)
		backfill_key_free(vals, n);
	free(v);
	return out;
}

/*
 * The topics the page after the state goes to (or went to): a JSON array of
 * strings, malloc'd; NULL when the record has none (an older bridge's)
 */
char *
kafka_backfill_state_next_topics(const char *text, size_t len)
{
	return state_field(text, len, "next_topics");
}

/* parse the state; its source into source (KAFKA_SOURCE_LEN) */
bool
kafka_backfill_state_parse(const char *text, size_t len, BackfillState *st, uint64_t *page, char *source)
{
	char	   *src = state_field(text, len, "source");
	char	   *lsn = state_field(text, len, "lsn");
	uint64_t	done = 0;
	bool		ok;

	ok = len > strlen(STATE_MAGIC) && memcmp(text, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1) == 0 &&
		src && strlen(src) < KAFKA_SOURCE_LEN && lsn && lsn_parse(lsn, strlen(lsn), &st->lsn) &&
		state_u64(text, len, "page", page) && state_u64(text, len, "seq", &st->seq) &&
		state_u64(text, len, "rows", &st->rows) && state_u64(text, len, "done", &done) &&
		(st->snapshot = state_field(text, len, "snapshot")) != NULL &&
		(st->key = state_field(text, len, "key")) != NULL &&
		(st->table = state_json1(text, len, "table")) != NULL &&
		(st->condition = state_json1(text, len, "condition")) != NULL;
	/* storage (backfill_rewrite.c), label, keydef: "" in a state without them */
	if (ok)
	{
		st->storage = state_field(text, len, "storage");
		st->label = state_field(text, len, "label");
		st->keydef = state_json1(text, len, "keydef");
		if (st->keydef == NULL)
			st->keydef = strdup("");
		if (st->storage == NULL)
			st->storage = strdup("");
		if (st->label == NULL)
			st->label = strdup("");
		ok = st->storage && st->label && st->keydef;
	}
	/* the tables by oid: not in an older bridge's state (by name then) */
	if (ok)
	{
		uint64_t	oid = 0;

		st->by_oid = state_u64(text, len, "table_oid", &oid) && oid <= UINT32_MAX;
		st->table_oid = st->by_oid ? (uint32_t) oid : 0;
		st->tables_done = st->by_oid ? state_field(text, len, "tables_done") : NULL;
		if (st->tables_done == NULL)
			st->tables_done = strdup("");
		ok = st->tables_done != NULL;
	}
	if (ok)
		strcpy(source, src);
	st->done = done != 0;
	free(src);
	free(lsn);
	return ok;
}

