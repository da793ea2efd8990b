test_pgoutput_corpus_SRCS = ../../bridge/pgoutput.c ../../bridge/pgoutput_reader.c ../../bridge/rowjob.c ../../bridge/tablematch.c ../../bridge/errbuf.c \
	../../bridge/lsn.c
