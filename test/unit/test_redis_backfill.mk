test_redis_backfill_SRCS = $(REDIS_SINK_SRCS)
test_redis_backfill_LIBS = -lhiredis
