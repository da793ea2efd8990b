# with transactions a commit resolves or narrows a failed delivery's suspect (bridge/kafka_suspects.c)
test_kafka_txn_suspect_SRCS = $(KAFKA_SINK_SRCS)
test_kafka_txn_suspect_LIBS = -lrdkafka -lpthread
