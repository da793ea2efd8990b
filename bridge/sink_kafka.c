/*-------------------------------------------------------------------------
 *
 * sink_kafka.c
 *		The Kafka sink: one message per job, delivered exactly once.  This
 *		file is the SinkOps glue: sessions, the hold queue and poll.
 *
 * Exactly once without Kafka transactions rests on three things (the
 * contract is docs/kafka.md):
 *	- The sink picks every partition itself (murmur2 of the key, or of the
 *	  lsn header for keyless jobs) and the idempotent producer writes each
 *	  partition in order without gap or duplicate (kafka_produce.c).
 *	- Every message carries its source and (commit lsn, seq); a partition's
 *	  last message is its mark.  Marks are read when a session first uses a
 *	  topic, refuse another source, and advance with every delivery report
 *	  (kafka_marks.c).  A gap between two of our messages in a partition
 *	  is read on the worker thread: another source there is fatal while
 *	  both write (kafka_gaps.c).
 *	- Every session (replay_begin) starts clean: with messages of the
 *	  previous session still in flight it first waits for all their
 *	  delivery reports ("settling"), so that the marks it reads include
 *	  them; jobs handed over meanwhile are held.  Without that, a replay
 *	  from the slot re-sends what is still in flight: case 1 of issue 10.
 *	  With --kafka-transactions a session that starts with a transaction
 *	  open or messages in flight recreates the producer instead: its
 *	  init_transactions aborts what the old one left open.
 *
 * Never blocking the bridge: the hold queue keeps, in order, every job (a
 * copy, counted in pending_bytes so the bridge's backpressure bounds it)
 * and every commit handed over while the sink cannot produce yet: while
 * settling, while a topic's marks are being read (on the worker thread of
 * kafka_marks.c), while init_transactions or commit_transaction are under
 * way (resumed step by step, kafka_txn.c), or while librdkafka's queue is
 * full.  poll() moves the queue on.  No call waits longer than
 * KAFKA_STEP_MS plus poll's own timeout, except disconnect (joining the
 * worker: one step) and drain (shutdown).
 *
 * Failures: SINK_RETRY drops the producer (the bridge disconnects and
 * replays from the slot): the next one reads the marks again.  A message
 * whose delivery no offset proves (failed, reported without an offset, or
 * unresolved when a failed producer is dropped) is a suspect: the next
 * session reads its partition back and sends only the jobs not there
 * (kafka_suspects.c).
 *
 * The position record of the slot (kafka_record.c) is read at every
 * session start before anything is produced; progress() acknowledges once
 * the record holds its position, and the bridge confirms nothing past the
 * record (sink.h, recorded).
 *
 * librdkafka has no socket to wait on, so the sink hands the bridge a pipe
 * that librdkafka (delivery reports ready) and the worker (marks read)
 * write to.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

static const SinkOps kafka_ops;

static KafkaSink *
ks_of(Sink *s)
{
	return (KafkaSink *) s;
}

/* remember the first failure seen in a callback; FATAL outranks RETRY */
void
kafka_fail(KafkaSink *ks, int rc, const char *fmt,...)
{
	va_list		ap;

	if (ks->failed >= rc)
		return;
	ks->failed = rc;
	va_start(ap, fmt);
	errbuf_vset(ks->sink.err, sizeof(ks->sink.err), rc, fmt, ap);
	va_end(ap);
}

void
kafka_wake(KafkaSink *ks)
{
	ssize_t		n;

	/* a full pipe wakes the bridge as well */
	if (ks->wake_fd[1] >= 0)
		n = write(ks->wake_fd[1], "w", 1);
	(void) n;
}

/* an operation answers rc: a failure sticks until the sink is closed */
static int
answer(KafkaSink *ks, int rc)
{
	if (rc > ks->failed)
		ks->failed = rc;
	return rc;
}

static void
drain_wake_pipe(KafkaSink *ks)
{
	char		buf[64];

	if (ks->wake_fd[0] >= 0)
		while (read(ks->wake_fd[0], buf, sizeof(buf)) > 0)
			;
}

/* ---- the hold queue ---- */

static int
hold(KafkaSink *ks, const KafkaOut *o)
{
	KafkaOut   *c = kafka_out_copy(o);

	if (c == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (ks->held_tail)
		ks->held_tail->next = c;
	else
		ks->held = c;
	ks->held_tail = c;
	ks->pending += c->bytes;
	return SINK_OK;
}

static void
held_pop(KafkaSink *ks)
{
	KafkaOut   *o = ks->held;

	ks->held = o->next;
	if (ks->held == NULL)
		ks->held_tail = NULL;
	ks->pending -= o->bytes;
	free(o);
}

static void
held_free_all(KafkaSink *ks)
{
	while (ks->held)
		held_pop(ks);
}

/* may jobs go to librdkafka now? */
static bool
can_produce(const KafkaSink *ks)
{
	return !ks->settling && kafka_record_ready(ks) && !kafka_record_holds(ks) &&
		(ks->txn == TXN_OFF || ks->txn == TXN_IDLE || ks->txn == TXN_OPEN);
}

/* one job or commit, now; a commit's first step only if *step (then used) */
static int
send_one(KafkaSink *ks, const KafkaOut *o, bool *step, bool *done)
{
	if (o->kind == OUT_COMMIT)
	{
		bool		now = *step;

		*done = true;
		*step = false;
		return kafka_txn_commit(ks, now);
	}
	return kafka_out_produce(ks, o, done);
}

/*
 * Move on: end settling when the previous session's messages are all
 * reported, take one step of a transactional call (if step: at most one
 * per call, KAFKA_STEP_MS), hand over what is held as far as it goes.
 */
static int
pump(KafkaSink *ks, bool *step)
{
	int			rc = SINK_OK;

	if (ks->failed != SINK_OK)
		return ks->failed;
	if (ks->gaps != NULL && (rc = kafka_gaps_collect(ks)) != SINK_OK)
		return ks->failed = rc;
	if (ks->settling && ks->inflight.next == &ks->inflight)
	{
		ks->settling = false;
		log_msg(LOG_DEBUG, "kafka: the previous session's messages are all delivered");
	}
	if (*step && ks->session > 0 &&
		(ks->txn == TXN_NEW || ks->txn == TXN_INIT || ks->txn == TXN_COMMIT))
	{
		rc = kafka_txn_step(ks);
		*step = false;
	}
	if (rc == SINK_OK)
		rc = kafka_record_pump(ks);
	while (rc == SINK_OK && ks->held != NULL && can_produce(ks))
	{
		bool		done;

		rc = send_one(ks, ks->held, step, &done);
		if (rc != SINK_OK || !done)
			break;
		held_pop(ks);
	}
	if (rc != SINK_OK && ks->failed < rc)
		ks->failed = rc;
	return ks->failed;
}

/* ---- opening and closing ---- */

static void
kafka_close(KafkaSink *ks)
{
	ks->discarding = true;
	kafka_worker_stop(ks);
	kafka_gaps_free(ks);
	held_free_all(ks);
	kafka_suspects_inflight(ks);	/* before the topics go */
	kafka_topics_free(ks);
	kafka_record_close(ks);
	kafka_handles_destroy(ks);
	kafka_msgs_free(ks);
	ks->pending = 0;
	ks->acks.n = 0;
	kafka_txn_reset(ks);
	ks->txn = TXN_OFF;
	ks->settling = false;
	ks->failed = SINK_OK;
	ks->connected = false;
	ks->discarding = false;
}

static int
kafka_open(KafkaSink *ks)
{
	int			rc;

	if ((rc = kafka_handles_create(ks)) != SINK_OK ||
		(rc = kafka_worker_start(ks)) != SINK_OK)
		kafka_close(ks);
	else
		ks->connected = true;
	return rc;
}

/* ---- the operations ---- */

/* handles only: no broker is asked anything before replay_begin */
static int
kafka_connect(Sink *s)
{
	KafkaSink  *ks = ks_of(s);

	if (ks->rk && !ks->connected && ks->failed == SINK_OK)
	{
		ks->connected = true;	/* kept by disconnect, see there */
		return SINK_OK;
	}
	if (ks->rk)
		kafka_close(ks);
	ks->txn_mode = s->cfg->kafka_transactions;
	if (s->cfg->url.brokers == NULL || s->cfg->url.brokers[0] == '\0')
		return errbuf_set(s->err, sizeof(s->err), SINK_FATAL, "no kafka brokers given");
	return kafka_open(ks);
}

static int
kafka_replay_begin(Sink *s, const SinkSource *src, uint64_t from, unsigned flags)
{
	KafkaSink  *ks = ks_of(s);
	bool		inflight;
	char		a[LSN_STRLEN];
	int			rc;

	if (ks->rk == NULL || !ks->connected)
		return answer(ks, errbuf_set(s->err, sizeof(s->err), SINK_RETRY,
									 "not connected to kafka"));
	if (src->sysid[0] == '\0' || src->slot[0] == '\0')
		return answer(ks, errbuf_set(s->err, sizeof(s->err), SINK_FATAL,
									 "kafka sink: a replay without a source (system identifier and slot)"));
	inflight = ks->inflight.next != &ks->inflight;
	if (ks->txn_mode && (inflight || ks->txn == TXN_OPEN || ks->txn == TXN_COMMIT))
	{
		kafka_close(ks);
		if ((rc = kafka_open(ks)) != SINK_OK)
			return rc;
		inflight = false;
	}
	ks->session++;
	ks->src = *src;
	ks->from = from;
	ks->flags = flags;
	kafka_source_format(src, ks->source, sizeof(ks->source));
	held_free_all(ks);
	ks->acks.n = 0;
	kafka_history_reset(ks);
	ks->settling = inflight;
	kafka_topics_forget(ks);
	/*
	 * Every session reads each topic's tail back past what the slot or the
	 * record proves, not only a new process's first: another process (a
	 * --standby partner) may have written the slot's partitions since this
	 * one's last session, and its unproven deliveries are in no suspect
	 * list of ours (attack 491).
	 */
	strtab_clear(&ks->tail_read);
	if ((rc = kafka_record_begin(ks)) != SINK_OK)
		return answer(ks, rc);
	log_msg(LOG_DEBUG, "kafka: replay of source %s from %s begins%s", ks->source,
			lsn_format(from, a, sizeof(a)),
			inflight ? " once the previous session's messages are delivered" : "");
	return pump(ks, &(bool) {true});
}

static int
kafka_check(KafkaSink *ks)
{
	if (ks->failed != SINK_OK)
		return ks->failed;
	if (ks->rk == NULL || !ks->connected)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "not connected to kafka");
	if (ks->session == 0)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka sink: a transaction handed over before replay_begin");
	return SINK_OK;
}

static int
kafka_begin(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	(void) txn;
	(void) t;
	return answer(ks_of(s), kafka_check(ks_of(s)));
}

static int
kafka_job(Sink *s, const FrameTxn *txn, const FrameJob *job, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);
	KafkaOut	o;
	bool		done = false;
	int			rc;

	if ((rc = kafka_check(ks)) != SINK_OK ||
		(rc = kafka_out_build(ks, txn, job, t, &o)) != SINK_OK)
		return answer(ks, rc);
	if (ks->held == NULL && can_produce(ks))
	{
		rc = kafka_out_produce(ks, &o, &done);
		if (rc != SINK_OK || done)
			return answer(ks, rc != SINK_OK ? rc : ks->failed);
	}
	return answer(ks, hold(ks, &o));
}

static int
kafka_commit(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);
	KafkaOut	o;
	int			rc;

	(void) txn;
	if ((rc = kafka_check(ks)) != SINK_OK || !ks->txn_mode)
		return answer(ks, rc);
	if (ks->held == NULL && can_produce(ks))
		return answer(ks, kafka_txn_commit(ks, true));
	memset(&o, 0, sizeof(o));
	o.kind = OUT_COMMIT;
	o.ticket = t;
	return answer(ks, hold(ks, &o));
}

static int
kafka_progress(Sink *s, uint64_t lsn, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);
	int			rc;

	if ((rc = kafka_check(ks)) != SINK_OK ||
		(rc = kafka_history_progress(ks, lsn)) != SINK_OK ||
		(rc = kafka_record_progress(ks, lsn, t)) != SINK_OK)
		return answer(ks, rc);
	return ks->failed;
}

static int
kafka_poll(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	KafkaSink  *ks = ks_of(s);
	bool		step = true;	/* one transactional step per poll */
	int			rc;

	if (ks->rk == NULL || !ks->connected)
		return errbuf_set(s->err, sizeof(s->err), SINK_RETRY, "not connected to kafka");
	ks->ack = ack;
	ks->ack_arg = arg;
	kafka_acks_flush(ks);
	drain_wake_pipe(ks);
	rc = pump(ks, &step);
	if (rc == SINK_OK)
	{
		/* a transactional step took its time: do not wait on top of it */
		rd_kafka_poll(ks->rk, step ? timeout_ms : 0);
		rc = pump(ks, &step);
	}
	kafka_acks_flush(ks);
	ks->ack = NULL;
	ks->ack_arg = NULL;
	return rc;
}

static int
kafka_socket(Sink *s, bool *want_write)
{
	*want_write = false;
	return ks_of(s)->wake_fd[0];
}

static size_t
kafka_pending_bytes(Sink *s)
{
	return ks_of(s)->pending;
}

/*
 * The bridge drops this session.  A healthy producer is kept: what it has
 * in flight still lands, in order, and the next session settles (waits for
 * it) before it reads the marks, instead of racing messages purged but
 * perhaps already on their way.  A failed one is closed.
 */
static void
kafka_disconnect(Sink *s)
{
	KafkaSink  *ks = ks_of(s);
	char		buf[8];

	if (ks->rk != NULL && ks->failed == SINK_OK &&
		rd_kafka_fatal_error(ks->rk, buf, sizeof(buf)) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		ks->session++;			/* its delivery reports acknowledge nothing */
		held_free_all(ks);
		ks->acks.n = 0;
		kafka_txn_reset(ks);
		ks->connected = false;
		return;
	}
	kafka_close(ks);
}

/* shutdown: hand over what is held, wait up to timeout_ms for the acks */
static int
kafka_drain(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	KafkaSink  *ks = ks_of(s);
	int64_t		deadline = now_us() + (int64_t) timeout_ms * 1000;
	int			rc;

	if (ks->rk == NULL || !ks->connected)
		return SINK_OK;
	while (ks->held != NULL || ks->inflight.next != &ks->inflight ||
		   ks->txn == TXN_COMMIT || kafka_record_busy(ks))
	{
		if ((rc = kafka_poll(s, 100, ack, arg)) != SINK_OK)
			return rc;
		if (now_us() >= deadline)
			return errbuf_set(s->err, sizeof(s->err), SINK_RETRY,
							  "%d kafka messages not delivered within %d ms",
							  rd_kafka_outq_len(ks->rk), timeout_ms);
	}
	return kafka_poll(s, 0, ack, arg);
}

static void
kafka_destroy(Sink *s)
{
	KafkaSink  *ks = ks_of(s);

	kafka_close(ks);
	kafka_backfill_free(ks);
	kafka_record_free(ks);
	kafka_history_free(ks);
	kafka_suspects_free(ks);
	free(s->replay_options);	/* a verdict the bridge did not take */
	free(ks->acks.a);
	free(ks->txn_acks.a);
	free(ks->txn_marks);
	free(ks->topics);
	strtab_free(&ks->topic_names);
	strtab_free(&ks->tail_read);
	pthread_mutex_destroy(&ks->worker.lock);
	pthread_cond_destroy(&ks->worker.cond);
	json_buf_free(&ks->value);
	json_buf_free(&ks->topic);
	free(ks);
}

static const SinkOps kafka_ops = {
	.name = "kafka",
	.connect = kafka_connect,
	.replay_begin = kafka_replay_begin,
	.begin = kafka_begin,
	.job = kafka_job,
	.commit = kafka_commit,
	.progress = kafka_progress,
	.record = kafka_record_want,
	.recorded = kafka_record_recorded,
	.vouches = kafka_record_vouches,
	.poll = kafka_poll,
	.socket = kafka_socket,
	.pending_bytes = kafka_pending_bytes,
	.disconnect = kafka_disconnect,
	.drain = kafka_drain,
	.destroy = kafka_destroy,
	.backfill_read = kafka_backfill_read,
	.backfill_batch = kafka_backfill_batch,
};

Sink *
sink_kafka_create(const SinkConfig *cfg)
{
	KafkaSink  *ks = calloc(1, sizeof(KafkaSink));

	if (ks == NULL)
		return NULL;
	ks->sink.ops = &kafka_ops;
	ks->sink.cfg = cfg;
	ks->sink.priv = ks;
	ks->wake_fd[0] = ks->wake_fd[1] = -1;
	ks->inflight.next = ks->inflight.prev = &ks->inflight;
	pthread_mutex_init(&ks->worker.lock, NULL);
	pthread_cond_init(&ks->worker.cond, NULL);
	json_buf_init(&ks->value);
	json_buf_init(&ks->topic);
	return &ks->sink;
}
