test_backfill_condition_SRCS = $(BRIDGE)/backfill_condition.c $(BRIDGE)/errbuf.c
