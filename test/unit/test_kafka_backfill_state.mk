test_kafka_backfill_state_SRCS = $(BRIDGE)/kafka_backfill_state.c $(BRIDGE)/kafka_backfill_topics.c $(BRIDGE)/backfill_key.c $(BRIDGE)/lsn.c $(BRIDGE)/errbuf.c
