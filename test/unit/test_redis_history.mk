test_redis_history_SRCS = $(REDIS_SINK_SRCS)
test_redis_history_LIBS = -lhiredis
