test_rowjob_SRCS = ../../bridge/rowjob.c ../../bridge/json_row.c ../../bridge/tablematch.c ../../common/tablepattern.c ../../bridge/errbuf.c
