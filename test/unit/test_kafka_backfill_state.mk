test_kafka_backfill_state_SRCS = $(BRIDGE)/kafka_backfill_state.c $(BRIDGE)/backfill_key.c $(BRIDGE)/lsn.c $(BRIDGE)/errbuf.c
