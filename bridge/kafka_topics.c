/*-------------------------------------------------------------------------
 *
 * kafka_topics.c
 *		The topics one producer writes: a small open-addressing table of
 *		names, each with its librdkafka topic handle, partition count and
 *		marks (kafka_marks.c reads and keeps those).
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

static uint32_t
name_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261U;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619U;
	return h;
}

static KafkaTopic **
topic_slot(KafkaSink *ks, const char *name, size_t len)
{
	size_t		mask = ks->topics_cap - 1;
	size_t		i = name_hash(name, len) & mask;

	while (ks->topics[i] != NULL &&
		   (strlen(ks->topics[i]->name) != len ||
			memcmp(ks->topics[i]->name, name, len) != 0))
		i = (i + 1) & mask;
	return &ks->topics[i];
}

static int
topics_grow(KafkaSink *ks)
{
	size_t		cap = ks->topics_cap ? ks->topics_cap * 2 : 16;
	KafkaTopic **old = ks->topics;
	size_t		oldcap = ks->topics_cap;
	size_t		i;

	ks->topics = calloc(cap, sizeof(KafkaTopic *));
	if (ks->topics == NULL)
	{
		ks->topics = old;
		return -1;
	}
	ks->topics_cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			*topic_slot(ks, old[i]->name, strlen(old[i]->name)) = old[i];
	free(old);
	return 0;
}

static void
topic_free(KafkaTopic *t)
{
	if (t->rkt)
		rd_kafka_topic_destroy(t->rkt);
	kafka_req_free(t->req);
	free(t->marks);
	free(t->name);
	free(t);
}

/* the topic of that name, a new entry (marks unknown) on first use */
KafkaTopic *
kafka_topic_get(KafkaSink *ks, const char *name, size_t len)
{
	KafkaTopic **slot;
	KafkaTopic *t;

	if (ks->topics_cap > 0 && *(slot = topic_slot(ks, name, len)) != NULL)
		return *slot;
	if (((ks->ntopics + 1) * 2 > ks->topics_cap && topics_grow(ks) != 0) ||
		(t = calloc(1, sizeof(KafkaTopic))) == NULL)
		return NULL;
	if ((t->name = strndup(name, len)) == NULL ||
		(t->rkt = rd_kafka_topic_new(ks->rk, t->name, NULL)) == NULL)
	{
		topic_free(t);
		return NULL;
	}
	*topic_slot(ks, name, len) = t;
	ks->ntopics++;
	return t;
}

/* a new session: every topic's marks are read again at first use */
void
kafka_topics_forget(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->topics_cap; i++)
		if (ks->topics[i] != NULL && ks->topics[i]->state == TOPIC_READY)
			ks->topics[i]->state = TOPIC_UNKNOWN;
}

/* the worker must be stopped */
void
kafka_topics_free(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->topics_cap; i++)
		if (ks->topics[i] != NULL)
			topic_free(ks->topics[i]);
	free(ks->topics);
	ks->topics = NULL;
	ks->topics_cap = 0;
	ks->ntopics = 0;
}
