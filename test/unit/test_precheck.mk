# test_precheck: --tables patterns as LIKE patterns (bridge/precheck.c)
PG_INCLUDEDIR ?= $(shell pg_config --includedir)
test_precheck_SRCS = ../../bridge/precheck.c ../../bridge/encoding.c ../../bridge/encoding_tables.c ../../bridge/log.c ../../bridge/errbuf.c
test_precheck_LIBS = -lpq
test_precheck_CFLAGS = -I$(PG_INCLUDEDIR)
precheck_CFLAGS = -I$(PG_INCLUDEDIR)
