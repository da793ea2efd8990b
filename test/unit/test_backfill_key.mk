test_backfill_key_SRCS = $(BRIDGE)/backfill_key.c $(BRIDGE)/errbuf.c
