# the Kafka sink's position record (bridge/kafka_record.c)
test_kafka_record_SRCS = $(KAFKA_SINK_SRCS)
test_kafka_record_LIBS = -lrdkafka -lpthread
