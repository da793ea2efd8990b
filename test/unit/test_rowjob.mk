test_rowjob_SRCS = ../../bridge/rowjob.c ../../bridge/tablematch.c ../../bridge/errbuf.c
