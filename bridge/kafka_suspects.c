/*-------------------------------------------------------------------------
 *
 * kafka_suspects.c
 *		Deliveries no offset proves: the partition is read back, and only
 *		the jobs that are not there are sent again.
 *
 * A partition's mark (kafka_marks.c) stands for every job of this source
 * up to its last message: that holds only if the partition holds a prefix
 * of our jobs.  The idempotent producer keeps that true on a broker that
 * checks sequence numbers.  Three kinds of message break it, and each one
 * becomes a suspect, the first of its partition, with the offset where our
 * next message should have landed then (kafka_gaps.c's next_offset):
 *	- a failed delivery (only with -X message.timeout.ms: it may leave a
 *	  gap while later messages of its partition were written);
 *	- a delivery reported without an offset: librdkafka acknowledges a
 *	  request whose outcome it does not know once a later request of the
 *	  partition succeeded ("implicitly acked by subsequent batch
 *	  success").  A broker that checks idempotent sequence numbers appends
 *	  the later one only after the earlier; librdkafka's mock checks them
 *	  for transactional producers only, and appended the later request
 *	  after refusing the earlier one while a leader moved: the earlier jobs
 *	  were reported delivered, acknowledged and lost (test/attack/README.md,
 *	  unit test_kafka_implicit_ack).  Such a report acknowledges nothing
 *	  and fails the session (SINK_RETRY);
 *	- a message still unresolved when a failed producer is dropped: its
 *	  request may be on the wire, and a later one may land without it.
 *
 * The next session reads the suspect's partition back from that offset to
 * the high watermark (kafka_marks.c, on the worker).  The mark then covers
 * a job below the suspect as before, and a job at or after it only if it
 * was read back: those are skipped, every other one is sent.  Nothing is
 * skipped that the partition does not hold; nothing is sent twice that it
 * held when it was read.  Where the offset is not known the partition is
 * re-sent from the suspect on (duplicates rather than a gap).  A sent
 * job lands after the later ones that were there: on a broker that let a
 * later request in without the earlier, order within the partition is
 * already lost; exactly once is kept.
 *
 * With --kafka-transactions a report without an offset is taken as it is
 * (the mock checks a transactional producer's sequence numbers, and a
 * transaction is acknowledged by its commit), a dropped producer's
 * transaction is aborted, and a failed delivery's partition is re-sent from
 * it without a read back: the mock shows aborted messages to a
 * read_committed consumer, which a read back would take for delivered.
 * There no delivery report resolves a suspect: a commit does
 * (kafka_suspect_committed), and one short of it moves it past what it
 * committed.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

static bool
pos_before(uint64_t lsn, uint32_t seq, uint64_t lsn2, uint32_t seq2)
{
	return lsn < lsn2 || (lsn == lsn2 && seq < seq2);
}

static int
pos_cmp(const void *a, const void *b)
{
	const KafkaPos *x = a;
	const KafkaPos *y = b;

	if (pos_before(x->lsn, x->seq, y->lsn, y->seq))
		return -1;
	return pos_before(y->lsn, y->seq, x->lsn, x->seq) ? 1 : 0;
}

/* where our next message in that partition should land; -1: unknown */
int64_t
kafka_next_offset(const KafkaTopic *t, int32_t partition)
{
	if (t == NULL || t->marks == NULL || partition < 0 || partition >= t->npartitions)
		return -1;
	return t->marks[partition].next_offset;
}

/* remember the first suspect of a partition and the lowest offset it could be at */
void
kafka_suspect_add(KafkaSink *ks, const char *topic, int32_t partition,
				  uint64_t lsn, uint32_t seq, int64_t from_offset)
{
	KafkaSuspect *p;
	size_t		i;

	/*
	 * With transactions a read back could take an aborted message for a
	 * delivered one where a consumer shows it (librdkafka's mock does):
	 * re-sent from the suspect on, as before
	 */
	if (ks->txn_mode)
		from_offset = -1;
	for (i = 0; i < ks->nsuspects; i++)
	{
		p = &ks->suspects[i];
		if (p->partition != partition || strcmp(p->topic, topic) != 0)
			continue;
		if (pos_before(lsn, seq, p->lsn, p->seq))
		{
			p->lsn = lsn;
			p->seq = seq;
		}
		p->applied = false;		/* a new one after a read back: not resolved so */
		if (from_offset < 0 || p->from_offset < 0)
			p->from_offset = -1;
		else if (from_offset < p->from_offset)
			p->from_offset = from_offset;
		return;
	}
	p = realloc(ks->suspects, (ks->nsuspects + 1) * sizeof(KafkaSuspect));
	if (p == NULL || (p[ks->nsuspects].topic = strdup(topic)) == NULL)
	{
		if (p != NULL)
			ks->suspects = p;
		kafka_fail(ks, SINK_FATAL, "out of memory remembering a failed delivery");
		return;
	}
	ks->suspects = p;
	p = &ks->suspects[ks->nsuspects++];
	p->partition = partition;
	p->lsn = lsn;
	p->seq = seq;
	p->from_offset = from_offset;
	p->tail = false;
	p->applied = false;
}

/*
 * A new process read a partition back from read_from to its end, because
 * its last message of this source is at or after from (the slot's start,
 * or this source's position record past it: kafka_marks.c, tail_floor):
 * a job from there on is skipped only if it was read back, whatever the
 * mark says.  Nothing of the previous process's suspects survived it (a
 * kill -9, a stop): this is how they are found again (test/t/392).  cut:
 * the read back stopped at kafka_tail_max messages before it reached a job
 * below from (or its bytes); the jobs before read_from are sent again.
 */
void
kafka_suspect_tail(KafkaSink *ks, const char *topic, int32_t partition,
				   uint64_t from, int64_t read_from, bool cut)
{
	size_t		n = ks->nsuspects;
	char		a[LSN_STRLEN];

	kafka_suspect_add(ks, topic, partition, from, 0, read_from);
	if (ks->nsuspects > n)
		ks->suspects[n].tail = true;
	if (cut)
		log_msg(LOG_WARNING, "topic \"%s\" partition %d: read back from offset %" PRId64
				" without reaching a job below %s, what the slot or its position record proves "
				"(the read back's bound: "
				"%" PRId64 " messages, %" PRId64 " bytes): jobs of this source before that offset "
				"are sent again (duplicates)", topic, (int) partition, read_from,
				lsn_format(from, a, sizeof(a)), kafka_tail_max, kafka_tail_max_bytes);
}

/*
 * A failed producer is dropped: what it has in flight may still land, and
 * a later request without an earlier one.  Without transactions every
 * partition with a message unresolved is read back by the next session.
 */
void
kafka_suspects_inflight(KafkaSink *ks)
{
	KafkaMsg   *m;

	if (ks->txn_mode)
		return;
	for (m = ks->inflight.next; m != &ks->inflight; m = m->next)
		if (m->topic != NULL)
			kafka_suspect_add(ks, m->topic->name, m->partition, m->lsn, m->seq,
							  kafka_next_offset(m->topic, m->partition));
}

/* the partitions of a topic to read back, malloc'd (NULL when none) */
KafkaVerify *
kafka_suspects_verify(KafkaSink *ks, const char *topic, int *n)
{
	KafkaVerify *v = NULL;
	size_t		i;

	*n = 0;
	for (i = 0; i < ks->nsuspects; i++)
	{
		KafkaSuspect *p = &ks->suspects[i];
		KafkaVerify *nv;

		if (p->from_offset < 0 || strcmp(p->topic, topic) != 0)
			continue;
		if ((nv = realloc(v, (*n + 1) * sizeof(KafkaVerify))) == NULL)
		{
			free(v);
			*n = 0;
			return NULL;		/* then re-sent from the suspect on */
		}
		v = nv;
		v[*n].partition = p->partition;
		v[*n].from = p->from_offset;
		(*n)++;
	}
	return v;
}

/*
 * A partition's marks were read: fold its suspect in, and forget it.  With
 * the partition read back from verified_from (>= 0) to hi, the jobs found
 * there (present, taken over) are the only ones at or after the suspect
 * that the mark covers; without, none of them.
 */
void
kafka_suspect_apply(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
					int64_t verified_from, int64_t hi, KafkaPos *present,
					size_t npresent)
{
	KafkaMark  *m = &t->marks[partition];
	size_t		i;
	char		a[LSN_STRLEN];

	for (i = 0; i < ks->nsuspects; i++)
	{
		KafkaSuspect *p = &ks->suspects[i];

		if (p->partition != partition || strcmp(p->topic, t->name) != 0)
			continue;
		if (verified_from >= 0 && p->from_offset >= 0)
		{
			if (npresent > 0)
				qsort(present, npresent, sizeof(KafkaPos), pos_cmp);
			m->present = present;
			m->npresent = npresent;
			present = NULL;
			if (p->tail)
				log_msg(LOG_INFO, "topic \"%s\" partition %d: read back from offset %" PRId64
						" up to the high watermark %" PRId64 ": %zu jobs of this source at or "
						"after %s (what the slot or its position record proves) there; only those "
						"are skipped",
						t->name, (int) partition, verified_from, hi, npresent,
						lsn_format(p->lsn, a, sizeof(a)));
			else
				log_msg(LOG_WARNING, "topic \"%s\" partition %d: the delivery of lsn %s seq %u "
						"was not proven; read back from offset %" PRId64 " up to the high watermark %" PRId64
						": %zu jobs of this source there; sending from that job on only those "
						"that are not there", t->name, (int) partition,
						lsn_format(p->lsn, a, sizeof(a)), p->seq, verified_from, hi, npresent);
		}
		else if (m->has_mark && !pos_before(m->lsn, m->seq, p->lsn, p->seq))
			log_msg(LOG_WARNING, "topic \"%s\" partition %d: delivery failed at lsn %s seq %u "
					"but the partition got further; re-sending from there (may duplicate)",
					t->name, (int) partition, lsn_format(p->lsn, a, sizeof(a)), p->seq);
		m->has_limit = true;
		m->limit_lsn = p->lsn;
		m->limit_seq = p->seq;
		/*
		 * Kept until a delivery past what this session may skip: a session
		 * that fails before it re-sent the missing jobs leaves them to the
		 * next one, which must not take the mark for a prefix either
		 */
		p->applied = true;
		p->until_incl = !(m->has_mark && !pos_before(m->lsn, m->seq, p->lsn, p->seq));
		p->until = p->until_incl ? (KafkaPos) {p->lsn, p->seq} : (KafkaPos) {m->lsn, m->seq};
		break;
	}
	free(present);
}

/* a delivery proven by its offset: resolves its partition's suspect, if past it */
void
kafka_suspect_delivered(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
						uint64_t lsn, uint32_t seq)
{
	size_t		i;

	for (i = 0; i < ks->nsuspects; i++)
	{
		KafkaSuspect *p = &ks->suspects[i];

		if (p->partition != partition || !p->applied || strcmp(p->topic, t->name) != 0)
			continue;
		if (p->until_incl ? !pos_before(lsn, seq, p->until.lsn, p->until.seq)
			: pos_before(p->until.lsn, p->until.seq, lsn, seq))
		{
			free(p->topic);
			ks->suspects[i] = ks->suspects[--ks->nsuspects];
		}
		return;
	}
}

/*
 * With transactions, a job of this session committed: every job of its
 * partition from the suspect up to it is there, committed in order (the
 * limit let none of them be skipped, and transactions commit one at a
 * time).  Past until the suspect is resolved; before, it moves past the
 * job, so that a next session skips what is committed and re-sends only
 * the rest.  Left as it was, every later session re-sent the committed
 * jobs from the suspect on: the same PostgreSQL transaction committed
 * twice in Kafka (the fault matrix's "kafka produce errors" cell).
 */
void
kafka_suspect_committed(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
						uint64_t lsn, uint32_t seq)
{
	size_t		i;

	if (t == NULL)
		return;
	for (i = 0; i < ks->nsuspects; i++)
	{
		KafkaSuspect *p = &ks->suspects[i];

		if (p->partition != partition || !p->applied || strcmp(p->topic, t->name) != 0)
			continue;
		if (pos_before(lsn, seq, p->lsn, p->seq))
			return;
		if (p->until_incl ? !pos_before(lsn, seq, p->until.lsn, p->until.seq)
			: pos_before(p->until.lsn, p->until.seq, lsn, seq))
		{
			free(p->topic);
			ks->suspects[i] = ks->suspects[--ks->nsuspects];
			return;
		}
		/* the next position after the job (lsn, seq) */
		p->lsn = seq == UINT32_MAX ? lsn + 1 : lsn;
		p->seq = seq == UINT32_MAX ? 0 : seq + 1;
		return;
	}
}

/* was a job at or after the partition's limit read back? */
bool
kafka_present_has(const KafkaMark *m, uint64_t lsn, uint32_t seq)
{
	KafkaPos	key = {lsn, seq};

	return m->npresent > 0 &&
		bsearch(&key, m->present, m->npresent, sizeof(KafkaPos), pos_cmp) != NULL;
}

/* free what a topic's marks hold (not the marks) */
void
kafka_marks_clear(KafkaTopic *t)
{
	int32_t		i;

	for (i = 0; t->marks != NULL && i < t->npartitions; i++)
	{
		free(t->marks[i].present);
		t->marks[i].present = NULL;
		t->marks[i].npresent = 0;
	}
}

void
kafka_suspects_free(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->nsuspects; i++)
		free(ks->suspects[i].topic);
	free(ks->suspects);
	ks->suspects = NULL;
	ks->nsuspects = 0;
}
