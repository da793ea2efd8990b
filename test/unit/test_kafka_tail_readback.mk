# a new process skips only the jobs it read back past the slot's start (bridge/kafka_marks.c)
test_kafka_tail_readback_SRCS = $(KAFKA_SINK_SRCS)
test_kafka_tail_readback_LIBS = -lrdkafka -lpthread
