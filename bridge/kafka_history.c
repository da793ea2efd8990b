/*-------------------------------------------------------------------------
 *
 * kafka_history.c
 *		A replay that skips jobs because a partition's mark covers them must
 *		show, at the mark's LSN, the mark's own transaction: the same xid
 *		and commit time (its headers).  Until it does, what it skipped is
 *		not acknowledged.
 *
 * The marks (kafka_marks.c) compare positions only.  A server rolled back
 * to a file-level copy on the same timeline keeps its system identifier
 * and timeline; once its WAL passed the marks its new jobs, committed at
 * LSNs below them, would be taken for delivered ones (test/t/251).  So a
 * job skipped below a mark read at the session's start leaves a proof to
 * see: the mark's (lsn, xid, commit_time).  Jobs are handed over in commit
 * order, so the replay of the same history reaches a job at that LSN
 * before anything past it; a job of another transaction there, a job past
 * it, or a position past it (progress(): a keepalive's WAL end, every
 * transaction before which was handed over first) is another history:
 * fatal, and nothing skipped on the way was acknowledged.  Shown, the
 * proof goes and the held acknowledgements are released.
 *
 * Marks without xid and commit_time headers (written by an older
 * wal2queue, or a backfilled row's) leave no proof: positions only, as
 * before.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

/* a mark's transaction the replay must show */
typedef struct Proof
{
	uint64_t	lsn;
	char		xid[12];
	char		time[TIME_STR_LEN];
	char	   *topic;
	int32_t		partition;
} Proof;

typedef struct KafkaHistory
{
	Proof	   *proofs;
	size_t		n;
	size_t		cap;
	AckQueue	held;			/* skipped jobs waiting for the proofs */
} KafkaHistory;

static KafkaHistory *
history_of(KafkaSink *ks)
{
	if (ks->hist == NULL)
		ks->hist = calloc(1, sizeof(KafkaHistory));
	return ks->hist;
}

static const char *
rollback_hint(void)
{
	return "the server was rolled back on the same timeline (restored from a file-level "
		"copy) and its history differs from what Kafka holds; nothing skipped on the way "
		"was confirmed; to deliver what it committed, write to new topics (another "
		"--target-prefix) with --accept-new-source (docs/operations.md, \"A server rolled "
		"back on the same timeline\")";
}

/* the replay presents xid/time at p's lsn, or passes it (xid NULL) at lsn */
static int
history_refuse(KafkaSink *ks, const Proof *p, const char *xid, const char *time,
			   uint64_t lsn)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];

	lsn_format(p->lsn, a, sizeof(a));
	if (xid != NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka topic \"%s\" partition %d holds transaction xid %s committed %s "
						  "at lsn %s of source %s, but this server presents xid %s committed %s "
						  "there: %s", p->topic, (int) p->partition, p->xid, p->time, a,
						  ks->source, xid, time, rollback_hint());
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka topic \"%s\" partition %d holds transaction xid %s committed %s at "
					  "lsn %s of source %s, but this server's replay passed that lsn (at %s) "
					  "without it: %s", p->topic, (int) p->partition, p->xid, p->time, a,
					  ks->source, lsn_format(lsn, b, sizeof(b)), rollback_hint());
}

/* every proof shown: the skipped jobs are acknowledged */
static void
history_release(KafkaSink *ks, KafkaHistory *h)
{
	size_t		i;

	if (h->n > 0)
		return;
	for (i = 0; i < h->held.n; i++)
		kafka_ack_push(ks, &ks->acks, h->held.a[i].ticket, h->held.a[i].n);
	if (h->held.n > 0)
		log_msg(LOG_DEBUG, "kafka: the replay showed the marks' transactions; %zu skipped "
				"transactions acknowledged", h->held.n);
	h->held.n = 0;
	kafka_wake(ks);
}

/* a job in commit order (before it is skipped or produced): shows or passes proofs */
int
kafka_history_job(KafkaSink *ks, const KafkaOut *o)
{
	KafkaHistory *h = ks->hist;
	size_t		i = 0;

	if (h == NULL || h->n == 0)
		return SINK_OK;
	while (i < h->n)
	{
		Proof	   *p = &h->proofs[i];

		if (p->lsn > o->lsn)
		{
			i++;
			continue;
		}
		if (p->lsn < o->lsn)
			return history_refuse(ks, p, NULL, NULL, o->lsn);
		if (strcmp(p->xid, o->xid_s) != 0 || strcmp(p->time, o->time_s) != 0)
			return history_refuse(ks, p, o->xid_s, o->time_s, o->lsn);
		free(p->topic);
		h->proofs[i] = h->proofs[--h->n];
	}
	history_release(ks, h);
	return SINK_OK;
}

static int
proof_add(KafkaSink *ks, KafkaHistory *h, const KafkaTopic *t, int32_t partition)
{
	const KafkaMark *m = &t->marks[partition];
	Proof	   *p;
	size_t		i;

	for (i = 0; i < h->n; i++)
		if (h->proofs[i].lsn == m->ident_lsn)
			return SINK_OK;		/* one transaction: one proof */
	if (h->n == h->cap)
	{
		size_t		cap = h->cap ? h->cap * 2 : 8;

		if ((p = realloc(h->proofs, cap * sizeof(Proof))) == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		h->proofs = p;
		h->cap = cap;
	}
	p = &h->proofs[h->n];
	if ((p->topic = strdup(t->name)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	p->lsn = m->ident_lsn;
	p->partition = partition;
	memcpy(p->xid, m->ident_xid, sizeof(p->xid));
	memcpy(p->time, m->ident_time, sizeof(p->time));
	h->n++;
	return SINK_OK;
}

/*
 * o is skipped: the mark of its partition covers it.  At the mark's own
 * lsn its transaction is compared at once; below it, the mark leaves a
 * proof.  The acknowledgement waits while any proof is open.
 */
int
kafka_history_skip(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
				   const KafkaOut *o)
{
	const KafkaMark *m = &t->marks[partition];
	KafkaHistory *h = history_of(ks);
	int			rc;

	if (h == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (m->ident_xid[0] != '\0' && m->ident_lsn == o->lsn &&
		(strcmp(m->ident_xid, o->xid_s) != 0 || strcmp(m->ident_time, o->time_s) != 0))
	{
		Proof		p = {m->ident_lsn, "", "", t->name, partition};

		memcpy(p.xid, m->ident_xid, sizeof(p.xid));
		memcpy(p.time, m->ident_time, sizeof(p.time));
		return history_refuse(ks, &p, o->xid_s, o->time_s, o->lsn);
	}
	if (m->ident_xid[0] != '\0' && m->ident_lsn > o->lsn &&
		(rc = proof_add(ks, h, t, partition)) != SINK_OK)
		return rc;
	kafka_ack_push(ks, h->n > 0 ? &h->held : &ks->acks, o->ticket, 1);
	return SINK_OK;
}

/* a position handed over (progress): every proof below it was passed */
int
kafka_history_progress(KafkaSink *ks, uint64_t lsn)
{
	KafkaHistory *h = ks->hist;
	size_t		i;

	for (i = 0; h != NULL && i < h->n; i++)
		if (h->proofs[i].lsn < lsn)
			return history_refuse(ks, &h->proofs[i], NULL, NULL, lsn);
	return SINK_OK;
}

/* a session begins: proofs and held acknowledgements of the last one go */
void
kafka_history_reset(KafkaSink *ks)
{
	KafkaHistory *h = ks->hist;

	if (h == NULL)
		return;
	while (h->n > 0)
		free(h->proofs[--h->n].topic);
	h->held.n = 0;
}

void
kafka_history_free(KafkaSink *ks)
{
	if (ks->hist == NULL)
		return;
	kafka_history_reset(ks);
	free(ks->hist->proofs);
	free(ks->hist->held.a);
	free(ks->hist);
	ks->hist = NULL;
}
