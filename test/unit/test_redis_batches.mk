test_redis_batches_SRCS = $(REDIS_SINK_SRCS)
test_redis_batches_LIBS = -lhiredis
