# test_encoding: database text to UTF-8 as PostgreSQL converts it, U+FFFD for what does not convert (bridge/encoding.c)
test_encoding_SRCS = ../../bridge/encoding.c ../../bridge/encoding_tables.c ../../bridge/errbuf.c ../../bridge/log.c
