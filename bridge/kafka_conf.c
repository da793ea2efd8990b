/*-------------------------------------------------------------------------
 *
 * kafka_conf.c
 *		The Kafka sink's configuration and librdkafka handles: the producer,
 *		the consumer that reads the marks, and the pipe the bridge waits on;
 *		and the check of that configuration at start (sink_kafka_check).
 *
 * Creating the handles talks to no broker on its own account: the first
 * request is the metadata of the first topic, made after replay_begin (a
 * --standby bridge that never holds the slot never gets that far), and
 * init_transactions runs only after replay_begin too (kafka_txn.c).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"
#include "../common/tablepattern.h"

/* measured against the mock cluster, see the notes at kafka_defaults */
#define KAFKA_DEFAULT_COMPRESSION "lz4"

/*
 * The producer's defaults, before the -X properties (which may override
 * them).  message.timeout.ms=0 retries forever: a message that expired
 * could leave a gap in its partition, which the marks cannot see.  With
 * transactions librdkafka ties message.timeout.ms to transaction.timeout.ms
 * and a gap cannot be committed, so the last two do not apply there.
 *
 * Compression: lz4, measured with 200,000 job rows of ~250 bytes of JSON
 * (key and the five headers on top) against the mock cluster, 8
 * partitions, linger.ms 5, medians of 5 runs on 2 CPUs:
 *
 *	codec	bytes/message on the wire	messages/s	CPU/message
 *	none	347							270,000		4.0 us
 *	snappy	 71							350,000		3.8 us
 *	lz4		 72							377,000		3.7 us
 *	zstd	 47							256,000		3.9 us
 *
 * and at 5,000 messages/s (small batches): 371, 168, 170 and 134 bytes.
 * lz4 is as small as snappy, the fastest, and every broker and client
 * since Kafka 0.10 reads it; zstd saves another third of the bytes for
 * about a third less throughput and needs Kafka 2.1 on both sides
 * (-X compression.codec=zstd).
 */
static const struct
{
	const char *key;
	const char *value;
	bool		not_with_txns;
}			kafka_defaults[] = {
	{"acks", "all", false},
	{"enable.idempotence", "true", false},
	{"compression.codec", KAFKA_DEFAULT_COMPRESSION, false},
	{"linger.ms", "5", false},
	{"enable.gapless.guarantee", "true", true},
	{"message.timeout.ms", "0", true},
	{NULL, NULL, false}
};

/* -X properties that also apply to the consumer reading the marks */
static const char *const consumer_prefixes[] = {
	"bootstrap.servers", "metadata.broker.list", "security.", "ssl.", "ssl_",
	"sasl.", "client.", "socket.", "broker.", "api.version", "reconnect.",
	"connections.", "resolve.", "enable.ssl", "enable.sasl", "debug",
	"log_level", "topic.metadata", "metadata.", "plugin.library.paths",
	"retry.backoff", NULL
};

/* ---- librdkafka callbacks ---- */

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaSink  *ks = opaque;
	char		buf[256];

	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		rd_kafka_resp_err_t real = rd_kafka_fatal_error(rk, buf, sizeof(buf));

		log_msg(LOG_WARNING, "kafka producer failed: %s: %s",
				rd_kafka_err2name(real), buf);
		kafka_fail(ks, SINK_RETRY, "kafka producer failed: %s: %s",
				   rd_kafka_err2name(real), buf);
		return;
	}
	/* brokers come and go; librdkafka reconnects, and says when all are down */
	log_msg(err == RD_KAFKA_RESP_ERR__TRANSPORT ? LOG_DEBUG : LOG_WARNING,
			"kafka: %s", reason);
}

static void
on_consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void) rk;
	(void) err;
	(void) opaque;
	log_msg(LOG_DEBUG, "kafka (reading marks): %s", reason);
}

/*
 * librdkafka's own log, from its threads.  Errors and configuration
 * warnings show; the rest, and the connection failures (FAIL) the error
 * callback reports anyway, only with -v.  The warning that
 * enable.gapless.guarantee is experimental is about our own default and is
 * left out.
 */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	bool		show = (level <= 3 && strcmp(fac, "FAIL") != 0) ||
		(strcmp(fac, "CONFWARN") == 0 && strstr(buf, "enable.gapless.guarantee") == NULL);

	(void) rk;
	log_msg(show ? LOG_WARNING : LOG_DEBUG, "kafka %s: %s", fac, buf);
}

/* a trial handle's log: its warnings come again from the real one */
static void
on_log_quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void) rk;
	log_msg(LOG_DEBUG, "kafka (checking the configuration) %d %s: %s", level, fac, buf);
}

/* ---- configuration ---- */

static bool
applies_to_consumer(const char *key)
{
	int			i;

	for (i = 0; consumer_prefixes[i]; i++)
		if (strncmp(key, consumer_prefixes[i], strlen(consumer_prefixes[i])) == 0)
			return true;
	return false;
}

static int
conf_set(Sink *s, rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char		errstr[256];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return errbuf_set(s->err, sizeof(s->err), SINK_FATAL,
						  "invalid kafka property \"%s\": %s", key, errstr);
	return SINK_OK;
}

/* apply the -X properties (all, or those for the consumer) */
static int
conf_set_user(Sink *s, rd_kafka_conf_t *conf, bool consumer)
{
	char	  **p;

	for (p = s->cfg->kafka_props; p != NULL && *p != NULL; p++)
	{
		const char *eq = strchr(*p, '=');
		char		key[256];
		size_t		n;

		if (eq == NULL || eq == *p || (size_t) (eq - *p) >= sizeof(key))
			return errbuf_set(s->err, sizeof(s->err), SINK_FATAL,
							  "invalid kafka property \"%s\" (use key=value)", *p);
		n = (size_t) (eq - *p);
		memcpy(key, *p, n);
		key[n] = '\0';
		if (consumer && !applies_to_consumer(key))
			continue;
		if (conf_set(s, conf, key, eq + 1) != SINK_OK)
			return SINK_FATAL;
	}
	return SINK_OK;
}

/* the transactional.id, for kafka_txn.c */
int
kafka_txn_conf(KafkaSink *ks, rd_kafka_conf_t *conf)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";
	const char *slot = ks->sink.cfg->slot ? ks->sink.cfg->slot : "bridge";
	char		id[256];

	snprintf(id, sizeof(id), "wal2queue-%s%s%s", slot, prefix[0] ? "-" : "", prefix);
	return conf_set(&ks->sink, conf, "transactional.id", id);
}

static int
producer_conf(KafkaSink *ks, rd_kafka_conf_t *conf, bool trial)
{
	Sink	   *s = &ks->sink;
	char		buf[64];
	size_t		len = sizeof(buf);
	int			i;

	if (conf_set(s, conf, "bootstrap.servers", s->cfg->url.brokers) != SINK_OK)
		return SINK_FATAL;
	for (i = 0; kafka_defaults[i].key; i++)
		if (!(ks->txn_mode && kafka_defaults[i].not_with_txns) &&
			conf_set(s, conf, kafka_defaults[i].key, kafka_defaults[i].value) != SINK_OK)
			return SINK_FATAL;
	if (ks->txn_mode && kafka_txn_conf(ks, conf) != SINK_OK)
		return SINK_FATAL;
	if (conf_set_user(s, conf, false) != SINK_OK)
		return SINK_FATAL;
	if (rd_kafka_conf_get(conf, "message.max.bytes", buf, &len) == RD_KAFKA_CONF_OK)
		ks->max_message_bytes = strtoll(buf, NULL, 10);
	len = sizeof(buf);
	ks->idempotent = rd_kafka_conf_get(conf, "enable.idempotence", buf, &len) == RD_KAFKA_CONF_OK &&
		strcmp(buf, "true") == 0;
	if (!trial && !ks->idempotent)
		log_msg(LOG_WARNING, "enable.idempotence is off: Kafka may get duplicates or gaps");
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, trial ? on_log_quiet : on_log);
	return SINK_OK;
}

static int
consumer_conf(KafkaSink *ks, rd_kafka_conf_t *conf, bool trial)
{
	Sink	   *s = &ks->sink;

	if (conf_set(s, conf, "bootstrap.servers", s->cfg->url.brokers) != SINK_OK ||
		conf_set(s, conf, "enable.partition.eof", "true") != SINK_OK ||
		conf_set(s, conf, "isolation.level", "read_committed") != SINK_OK ||
		conf_set(s, conf, "fetch.wait.max.ms", "10") != SINK_OK ||
		conf_set(s, conf, "fetch.error.backoff.ms", "50") != SINK_OK ||
		conf_set_user(s, conf, true) != SINK_OK)
		return SINK_FATAL;
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_error_cb(conf, on_consumer_error);
	rd_kafka_conf_set_log_cb(conf, trial ? on_log_quiet : on_log);
	return SINK_OK;
}

/* one handle (trial: only a check, quiet); the configuration is consumed either way */
static int
handle_new(KafkaSink *ks, rd_kafka_type_t type, rd_kafka_t **out, bool trial)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		errstr[512];
	int			rc;

	rc = type == RD_KAFKA_PRODUCER ? producer_conf(ks, conf, trial) : consumer_conf(ks, conf, trial);
	if (rc != SINK_OK)
	{
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	if ((*out = rd_kafka_new(type, conf, errstr, sizeof(errstr))) == NULL)
	{
		rd_kafka_conf_destroy(conf);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "could not create the kafka %s: %s",
						  type == RD_KAFKA_PRODUCER ? "producer" : "consumer", errstr);
	}
	return SINK_OK;
}

int
kafka_handles_create(KafkaSink *ks)
{
	int			rc;

	if ((rc = handle_new(ks, RD_KAFKA_PRODUCER, &ks->rk, false)) != SINK_OK ||
		(rc = handle_new(ks, RD_KAFKA_CONSUMER, &ks->rkc, false)) != SINK_OK)
		return rc;
	if (pipe(ks->wake_fd) != 0)
	{
		ks->wake_fd[0] = ks->wake_fd[1] = -1;
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not create a pipe: %s", strerror(errno));
	}
	fcntl(ks->wake_fd[0], F_SETFL, O_NONBLOCK);
	fcntl(ks->wake_fd[1], F_SETFL, O_NONBLOCK);
	fcntl(ks->wake_fd[0], F_SETFD, FD_CLOEXEC);
	fcntl(ks->wake_fd[1], F_SETFD, FD_CLOEXEC);
	ks->mainq = rd_kafka_queue_get_main(ks->rk);
	rd_kafka_queue_io_event_enable(ks->mainq, ks->wake_fd[1], "k", 1);
	ks->txn = ks->txn_mode ? TXN_NEW : TXN_OFF;
	return SINK_OK;
}

/* purge what is in flight and destroy the handles (the worker is stopped) */
void
kafka_handles_destroy(KafkaSink *ks)
{
	if (ks->rk)
		rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (ks->mainq)
	{
		rd_kafka_queue_io_event_enable(ks->mainq, -1, NULL, 0);
		rd_kafka_queue_destroy(ks->mainq);
		ks->mainq = NULL;
	}
	if (ks->rkc)
		rd_kafka_destroy_flags(ks->rkc, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (ks->rk)
		rd_kafka_destroy(ks->rk);
	ks->rk = ks->rkc = NULL;
	if (ks->wake_fd[0] >= 0)
	{
		close(ks->wake_fd[0]);
		close(ks->wake_fd[1]);
		ks->wake_fd[0] = ks->wake_fd[1] = -1;
	}
}

/* ---- the check before anything is created ---- */

/* -X transactional.id without --kafka-transactions: every write would fail */
static int
check_transactional_id(const SinkConfig *cfg, char *err, size_t errlen)
{
	char	  **p;

	if (cfg->kafka_transactions)
		return 0;
	for (p = cfg->kafka_props; p != NULL && *p != NULL; p++)
		if (strncmp(*p, "transactional.id=", 17) == 0)
		{
			snprintf(err, errlen, "-X %s needs --kafka-transactions: a producer with a "
					 "transactional.id writes only inside transactions, which the bridge runs only "
					 "with --kafka-transactions, so every write would fail; hint: add "
					 "--kafka-transactions (it names the transactional.id itself, "
					 "wal2queue-<slot>[-<target prefix>], unless -X gives one), or leave out "
					 "-X transactional.id", *p);
			return -1;
		}
	return 0;
}

/* the --target-prefix of every topic, by the rule each job's topic must meet */
static int
check_target_prefix(const SinkConfig *cfg, char *err, size_t errlen)
{
	const char *prefix = cfg->target_prefix ? cfg->target_prefix : "";
	size_t		len = strlen(prefix);
	char	   *name;
	const char *why;

	if (len == 0)
		return 0;
	/* the shortest topic it can begin: the prefix and a one-letter target */
	if ((name = malloc(len + 2)) == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(name, prefix, len);
	memcpy(name + len, "x", 2);
	why = kafka_topic_unusable(name, len + 1);
	free(name);
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "invalid value for --target-prefix \"%s\": every kafka topic begins "
			 "with it, and %s", prefix, why);
	return -1;
}

/* does the pattern "schema.table" match a split of name at one of its dots? */
static bool
pattern_names(const char *pat, size_t dot, const char *name)
{
	char		buf[SINK_ERRLEN],
				pbuf[SINK_ERRLEN];
	const char *d;

	if (strlen(name) >= sizeof(buf) || strlen(pat) >= sizeof(pbuf))
		return false;
	memcpy(pbuf, pat, strlen(pat) + 1);
	pbuf[dot] = '\0';
	for (d = strchr(name, '.'); d != NULL; d = strchr(d + 1, '.'))
	{
		memcpy(buf, name, strlen(name) + 1);
		buf[d - name] = '\0';
		if (buf[0] != '\0' && d[1] != '\0' && tablepattern_part_match(pbuf, buf) &&
			tablepattern_part_match(pbuf + dot + 1, buf + (d - name) + 1))
			return true;
	}
	return false;
}

/*
 * --kafka-positions-topic must not be a job topic: the records would land
 * among the jobs.  A job's topic is --target-prefix and its table's
 * "schema.table" (a route column's targets are not known at start); a
 * --tables pattern "*" alone is not compared (it would name every dotted
 * topic, the default positions topic too).
 */
int
sink_kafka_check_positions(const SinkConfig *cfg, const char *tables, char *err, size_t errlen)
{
	const char *prefix = cfg->target_prefix ? cfg->target_prefix : "";
	const char *topic = cfg->kafka_positions_topic;
	char		list[SINK_ERRLEN],
			   *tok,
			   *save = NULL;
	ptrdiff_t	dot;

	if (topic == NULL || topic[0] == '\0' || tables == NULL ||
		strncmp(topic, prefix, strlen(prefix)) != 0 || strlen(tables) >= sizeof(list))
		return 0;
	memcpy(list, tables, strlen(tables) + 1);
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		tok = tablepattern_trim(tok);
		if (tablepattern_check(tok, &dot) != NULL || dot < 0 ||
			!pattern_names(tok, (size_t) dot, topic + strlen(prefix)))
			continue;
		snprintf(err, errlen, "invalid value for --kafka-positions-topic \"%s\": it is the job "
				 "topic of a table of --tables \"%s\"%s%s%s; the position records would land "
				 "among the jobs", topic, tok, prefix[0] ? " (with --target-prefix \"" : "",
				 prefix, prefix[0] ? "\")" : "");
		return -1;
	}
	return 0;
}

/* the refusal, and the defaults the -X properties were combined with */
static void
explain_refusal(KafkaSink *ks, char *err, size_t errlen)
{
	size_t		n = snprintf(err, errlen, "%s; hint: the bridge sets ", ks->sink.err);
	int			i;

	for (i = 0; kafka_defaults[i].key && n < errlen; i++)
		if (!(ks->txn_mode && kafka_defaults[i].not_with_txns))
			n += snprintf(err + n, errlen - n, "%s=%s, ", kafka_defaults[i].key,
						  kafka_defaults[i].value);
	if (n < errlen)
		snprintf(err + n, errlen - n, "which -X overrides one by one; set the ones that go "
				 "with yours too (docs/kafka.md)");
}

/*
 * The configuration the sink will run with, checked before the bridge
 * creates a slot or connects anywhere: librdkafka refuses some -X values
 * only together, in rd_kafka_new() (acks=1 with the default
 * enable.idempotence=true, max.in.flight=20, retries=0), and a refusal
 * there came after --create-slot had made the slot, which then held WAL
 * (attack 255).  A trial producer and consumer are created from exactly
 * what kafka_handles_create() will use, and destroyed at once, before
 * they produce anything.
 */
int
sink_kafka_check(const SinkConfig *cfg, char *err, size_t errlen)
{
	KafkaSink  *ks;
	rd_kafka_t *rk = NULL;
	int			rc;

	if (check_transactional_id(cfg, err, errlen) != 0 ||
		check_target_prefix(cfg, err, errlen) != 0)
		return -1;
	if ((ks = calloc(1, sizeof(KafkaSink))) == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ks->sink.cfg = cfg;
	ks->txn_mode = cfg->kafka_transactions;
	if ((rc = handle_new(ks, RD_KAFKA_PRODUCER, &rk, true)) == SINK_OK)
	{
		rd_kafka_destroy(rk);
		if ((rc = handle_new(ks, RD_KAFKA_CONSUMER, &rk, true)) == SINK_OK)
			rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	if (rc != SINK_OK && strncmp(ks->sink.err, "could not create", 16) == 0)
		explain_refusal(ks, err, errlen);
	else if (rc != SINK_OK)
		snprintf(err, errlen, "%s", ks->sink.err);
	free(ks);
	return rc == SINK_OK ? 0 : -1;
}
