# test_kafka_backfill.mk -- the Kafka sink's backfill hooks against the mock cluster
test_kafka_backfill_SRCS = $(KAFKA_SINK_SRCS)
test_kafka_backfill_LIBS = -lrdkafka -lpthread
