/*-------------------------------------------------------------------------
 *
 * kafka_topics.c
 *		The topics one producer writes: their names interned in a string
 *		table (strtab.h), each with its librdkafka topic handle, partition
 *		count and marks (kafka_marks.c reads and keeps those).
 *
 * Entries live as long as the producer: messages in flight point to their
 * topic.  A new session only forgets the marks (kafka_topics_forget), to
 * be read again at first use.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "kafka_sink.h"

static void
topic_free(KafkaTopic *t)
{
	if (t->rkt)
		rd_kafka_topic_destroy(t->rkt);
	kafka_req_free(t->req);
	kafka_marks_clear(t);
	free(t->marks);
	free(t->name);
	free(t);
}

/* the topic of that name, a new entry (marks unknown) on first use */
KafkaTopic *
kafka_topic_get(KafkaSink *ks, const char *name, size_t len)
{
	int64_t		i = strtab_find(&ks->topic_names, name, len);
	KafkaTopic *t;

	if (i >= 0)
		return ks->topics[i];
	if (ks->ntopics == ks->topics_cap)
	{
		size_t		cap = ks->topics_cap ? ks->topics_cap * 2 : 16;
		KafkaTopic **p = realloc(ks->topics, cap * sizeof(KafkaTopic *));

		if (p == NULL)
			return NULL;
		ks->topics = p;
		ks->topics_cap = cap;
	}
	if ((t = calloc(1, sizeof(KafkaTopic))) == NULL)
		return NULL;
	if ((t->name = strndup(name, len)) == NULL ||
		(t->rkt = rd_kafka_topic_new(ks->rk, t->name, NULL)) == NULL ||
		strtab_intern(&ks->topic_names, name, len) != (int64_t) ks->ntopics)
	{
		topic_free(t);
		return NULL;
	}
	ks->topics[ks->ntopics++] = t;
	return t;
}

/* a new session: every topic's marks are read again at first use */
void
kafka_topics_forget(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->ntopics; i++)
		if (ks->topics[i]->state == TOPIC_READY)
			ks->topics[i]->state = TOPIC_UNKNOWN;
}

/* the worker must be stopped */
void
kafka_topics_free(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->ntopics; i++)
		topic_free(ks->topics[i]);
	ks->ntopics = 0;
	strtab_clear(&ks->topic_names);
}
