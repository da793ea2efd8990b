# test_encoding: database text to UTF-8 with iconv, U+FFFD for what does not convert (bridge/encoding.c)
test_encoding_SRCS = ../../bridge/encoding.c ../../bridge/errbuf.c
