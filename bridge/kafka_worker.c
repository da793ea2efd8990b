/*-------------------------------------------------------------------------
 *
 * kafka_worker.c
 *		The Kafka sink's worker thread: runs look-ups that take round trips
 *		(marks, gaps, read-backs, the position record) one at a time, so
 *		the main loop never waits for a broker.
 *
 * A piece of work (KafkaWork, first member of each request) is queued by
 * kafka_worker_submit; the thread runs it, marks it done and wakes the
 * bridge through the sink's pipe (kafka_wake).  The main thread polls
 * kafka_work_done.  A look-up checks kafka_worker_stopping between steps,
 * each bounded by KAFKA_STEP_MS, so stopping waits at most one step.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>

#include "errbuf.h"
#include "kafka_sink.h"

bool
kafka_worker_stopping(KafkaSink *ks)
{
	bool		stop;

	pthread_mutex_lock(&ks->worker.lock);
	stop = ks->worker.stop;
	pthread_mutex_unlock(&ks->worker.lock);
	return stop;
}

static void *
worker_main(void *arg)
{
	KafkaSink  *ks = arg;
	KafkaWorker *w = &ks->worker;

	pthread_mutex_lock(&w->lock);
	for (;;)
	{
		KafkaWork  *q;

		while (!w->stop && w->head == NULL)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		q = w->head;
		w->head = q->next;
		if (w->head == NULL)
			w->tail = NULL;
		q->queued = false;
		pthread_mutex_unlock(&w->lock);
		q->run(q);
		pthread_mutex_lock(&w->lock);
		q->done = true;
		kafka_wake(ks);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* hand a piece of work to the worker (its run, done and queued are set) */
void
kafka_worker_submit(KafkaSink *ks, KafkaWork *q)
{
	KafkaWorker *w = &ks->worker;

	pthread_mutex_lock(&w->lock);
	q->next = NULL;
	q->done = false;
	q->queued = true;
	if (w->tail)
		w->tail->next = q;
	else
		w->head = q;
	w->tail = q;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* has the worker finished q? */
bool
kafka_work_done(KafkaSink *ks, KafkaWork *q)
{
	bool		done;

	pthread_mutex_lock(&ks->worker.lock);
	done = q->done;
	pthread_mutex_unlock(&ks->worker.lock);
	return done;
}

int
kafka_worker_start(KafkaSink *ks)
{
	KafkaWorker *w = &ks->worker;

	w->stop = false;
	w->head = w->tail = NULL;
	if (pthread_create(&w->thread, NULL, worker_main, ks) != 0)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not start the kafka look-up thread");
	w->running = true;
	return SINK_OK;
}

/* stop the worker: it finishes the step it is in (KAFKA_STEP_MS at most) */
void
kafka_worker_stop(KafkaSink *ks)
{
	KafkaWorker *w = &ks->worker;

	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->running = false;
	w->head = w->tail = NULL;
}
