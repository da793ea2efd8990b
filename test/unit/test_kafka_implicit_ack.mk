# a later batch's success must not stand for an earlier one (bridge/kafka_produce.c)
test_kafka_implicit_ack_SRCS = $(KAFKA_SINK_SRCS)
test_kafka_implicit_ack_LIBS = -lrdkafka -lpthread
