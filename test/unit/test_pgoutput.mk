test_pgoutput_SRCS = ../../bridge/pgoutput.c ../../bridge/tablematch.c ../../bridge/errbuf.c \
	../../bridge/lsn.c
