/*-------------------------------------------------------------------------
 *
 * kafka_mock.c
 *		A Kafka cluster for tests: librdkafka's mock cluster in a process.
 *
 *	kafka-mock [NBROKERS]
 *
 * Starts a mock cluster of NBROKERS brokers (default 1, ids 1..N), prints
 * the bootstrap list ("127.0.0.1:port,...") on the first line of stdout,
 * then reads one command a line from stdin and answers "ok" or
 * "error: ..." on a line of its own:
 *
 *	down BROKER_ID				disconnect the broker, refuse connections (-1: all)
 *	up BROKER_ID				accept connections again (-1: all)
 *	create TOPIC PARTITIONS		create a topic (replication factor 1)
 *	rtt BROKER_ID MS			delay the broker's responses (-1: all brokers)
 *	leader TOPIC PARTITION BROKER_ID	move the partition's leader
 *	errors APIKEY ERRCODE COUNT	answer the next COUNT requests of APIKEY
 *								(0: Produce) with error ERRCODE
 *	topicerror TOPIC ERRCODE	answer metadata requests for TOPIC with error
 *								ERRCODE (3: the topic does not exist, as a
 *								cluster that does not create topics answers)
 *	quit						stop (as does the end of stdin)
 *
 * Topics not created explicitly are created on first metadata request with
 * the mock's default of 4 partitions.  The mock keeps a few MiB per
 * partition and does not filter aborted transactions for consumers.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static void
reply(rd_kafka_resp_err_t err)
{
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		printf("ok\n");
	else
		printf("error: %s\n", rd_kafka_err2str(err));
	fflush(stdout);
}

/* run one command; returns 0 to stop */
static int
command(rd_kafka_mock_cluster_t *mc, char *line)
{
	char		topic[256];
	int			id;
	int			n;
	int			ms;
	int			code;

	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, "quit") == 0)
		return 0;
	if (sscanf(line, "down %d", &id) == 1)
		reply(rd_kafka_mock_broker_set_down(mc, id));
	else if (sscanf(line, "up %d", &id) == 1)
		reply(rd_kafka_mock_broker_set_up(mc, id));
	else if (sscanf(line, "create %255s %d", topic, &n) == 2 && n > 0)
		reply(rd_kafka_mock_topic_create(mc, topic, n, 1));
	else if (sscanf(line, "rtt %d %d", &id, &ms) == 2 && ms >= 0)
		reply(rd_kafka_mock_broker_set_rtt(mc, id, ms));
	else if (sscanf(line, "leader %255s %d %d", topic, &n, &id) == 3)
		reply(rd_kafka_mock_partition_set_leader(mc, topic, n, id));
	else if (sscanf(line, "errors %d %d %d", &id, &code, &n) == 3 && n > 0 && n <= 100)
	{
		rd_kafka_resp_err_t errs[100];

		for (int i = 0; i < n; i++)
			errs[i] = (rd_kafka_resp_err_t) code;
		rd_kafka_mock_push_request_errors_array(mc, (int16_t) id, (size_t) n, errs);
		reply(RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	else if (sscanf(line, "topicerror %255s %d", topic, &code) == 2)
	{
		rd_kafka_mock_topic_set_error(mc, topic, (rd_kafka_resp_err_t) code);
		reply(RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	else if (line[0] != '\0')
	{
		printf("error: unknown command \"%s\"\n", line);
		fflush(stdout);
	}
	return 1;
}

int
main(int argc, char **argv)
{
	char		errstr[512];
	char		line[1024];
	int			nbrokers = argc > 1 ? atoi(argv[1]) : 1;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;

	if (nbrokers < 1)
	{
		fprintf(stderr, "usage: kafka-mock [NBROKERS]\n");
		return 2;
	}
	rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (mc == NULL)
	{
		fprintf(stderr, "kafka-mock: could not create the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL && command(mc, line))
		;
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
