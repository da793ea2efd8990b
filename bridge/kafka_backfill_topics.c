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
	{
		size_t		len = pl + jobs[i].target.len;

		if (len + 1 > cap)
		{
			char	   *p = realloc(buf, len + 1);

			if (p == NULL)
			{
				ok = false;
				break;
			}
			buf = p;
			cap = len + 1;
		}
		if (pl)
			memcpy(buf, prefix, pl);
		if (jobs[i].target.len)
			memcpy(buf + pl, jobs[i].target.data, jobs[i].target.len);
		ok = kafka_bf_topics_add(out, buf, len);
	}
	free(buf);
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
