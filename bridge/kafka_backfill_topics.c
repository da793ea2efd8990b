/*-------------------------------------------------------------------------
 *
 * kafka_backfill_topics.c
 *		The topics a Kafka backfill page goes to (kafka_backfill.c): the set
 *		of a page's topic names, and its text in the state record's
 *		next_topics (a JSON array of strings, as a position key).
 *
 * The state records where the page after it is sent, so that a resume
 * reads that page's evidence where the rows went, not only where they
 * would go now (a table renamed between a kill and its restart, test/t/435).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "kafka_sink.h"

void
kafka_bf_topics_free(KafkaBfTopics *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->name[i]);
	free(t->name);
	t->name = NULL;
	t->n = 0;
}

bool
kafka_bf_topics_has(const KafkaBfTopics *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->name[i]) == len && memcmp(t->name[i], name, len) == 0)
			return true;
	return false;
}

/* add name (len bytes) unless t has it; false when out of memory */
bool
kafka_bf_topics_add(KafkaBfTopics *t, const char *name, size_t len)
{
	char	  **p;

	if (kafka_bf_topics_has(t, name, len))
		return true;
	if ((p = realloc(t->name, (t->n + 1) * sizeof(char *))) == NULL)
		return false;
	t->name = p;
	if ((t->name[t->n] = strndup(name, len)) == NULL)
		return false;
	t->n++;
	return true;
}

/* is every topic of a in b? */
bool
kafka_bf_topics_within(const KafkaBfTopics *a, const KafkaBfTopics *b)
{
	for (size_t i = 0; i < a->n; i++)
		if (!kafka_bf_topics_has(b, a->name[i], strlen(a->name[i])))
			return false;
	return true;
}

/* job's topic (prefix and target) into *buf (grown); false when out of memory */
static bool
topic_of(const char *prefix, size_t pl, const FrameJob *job, char **buf, size_t *cap)
{
	size_t		len = pl + job->target.len;

	if (len + 1 > *cap)
	{
		char	   *p = realloc(*buf, len + 1);

		if (p == NULL)
			return false;
		*buf = p;
		*cap = len + 1;
	}
	if (pl)
		memcpy(*buf, prefix, pl);
	if (job->target.len)
		memcpy(*buf + pl, job->target.data, job->target.len);
	(*buf)[len] = '\0';
	return true;
}

/* the topics of a page's jobs: the target prefix and each job's target */
bool
kafka_bf_topics_of_page(const char *prefix, const FrameJob *jobs, uint32_t njobs,
						KafkaBfTopics *out)
{
	size_t		pl = prefix ? strlen(prefix) : 0;
	char	   *buf = NULL;
	size_t		cap = 0;
	bool		ok = true;

	for (uint32_t i = 0; ok && i < njobs; i++)
		ok = topic_of(prefix, pl, &jobs[i], &buf, &cap) &&
			kafka_bf_topics_add(out, buf, pl + jobs[i].target.len);
	free(buf);
	return ok;
}

/* the bytes of a name in a JSON array of strings: quoted, escaped, a comma */
static size_t
json_len(const char *s, size_t len)
{
	size_t		n = 3;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char) s[i] < 0x20 || s[i] == '"' || s[i] == '\\') ? 6 : 1;
	return n;
}

/*
 * Where a page of jobs[from..njobs) ends so that its topics, with those of
 * with, make a JSON array (kafka_bf_topics_format) of at most max_json
 * bytes: *end is the first job left out (from when even the first job's
 * topic does not fit).  False when out of memory.
 */
bool
kafka_bf_topics_cut(const char *prefix, const FrameJob *jobs, uint32_t from, uint32_t njobs,
					const KafkaBfTopics *with, size_t max_json, uint32_t *end)
{
	size_t		pl = prefix ? strlen(prefix) : 0;
	KafkaBfTopics u = {0};
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		size = 2;
	bool		ok = true;
	uint32_t	i;

	for (size_t k = 0; ok && with && k < with->n; k++)
	{
		size += json_len(with->name[k], strlen(with->name[k]));
		ok = kafka_bf_topics_add(&u, with->name[k], strlen(with->name[k]));
	}
	for (i = from; ok && i < njobs; i++)
	{
		size_t		len = pl + jobs[i].target.len;

		if (!(ok = topic_of(prefix, pl, &jobs[i], &buf, &cap)))
			break;
		if (kafka_bf_topics_has(&u, buf, len))
			continue;
		if (size + json_len(buf, len) > max_json)
			break;
		size += json_len(buf, len);
		ok = kafka_bf_topics_add(&u, buf, len);
	}
	*end = i;
	free(buf);
	kafka_bf_topics_free(&u);
	return ok;
}

/* the set as a JSON array of strings (malloc'd, NULL when out of memory) */
char *
kafka_bf_topics_format(const KafkaBfTopics *t)
{
	return backfill_key_format((const char *const *) t->name, (int) t->n);
}

/* a JSON array of strings into t (emptied first); false if it is none */
bool
kafka_bf_topics_parse(const char *json, KafkaBfTopics *t)
{
	char	  **vals = NULL;
	char		err[128];
	int			n;
	bool		ok;

	/* a position key is never empty, a set of topics may be */
	kafka_bf_topics_free(t);
	if (strcmp(json, "[]") == 0)
		return true;
	n = backfill_key_parse(json, &vals, err, sizeof(err));
	ok = n >= 0;
	for (int i = 0; ok && i < n; i++)
		ok = vals[i] != NULL && vals[i][0] != '\0' &&
			kafka_bf_topics_add(t, vals[i], strlen(vals[i]));
	if (n > 0)
		backfill_key_free(vals, n);
	else
		free(vals);
	if (!ok)
		kafka_bf_topics_free(t);
	return ok;
}
