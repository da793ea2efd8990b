# test_pgerror: SQLSTATE classification and connecting (bridge/pgerror.c,
# bridge/pgconnect.c; needs libpq)
PG_INCLUDEDIR ?= $(shell pg_config --includedir)
test_pgerror_SRCS = ../../bridge/pgerror.c ../../bridge/pgconnect.c ../../bridge/log.c
test_pgerror_LIBS = -lpq
test_pgerror_CFLAGS = -I$(PG_INCLUDEDIR)
pgerror_CFLAGS = -I$(PG_INCLUDEDIR)
pgconnect_CFLAGS = -I$(PG_INCLUDEDIR)
