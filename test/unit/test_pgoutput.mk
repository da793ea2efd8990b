test_pgoutput_SRCS = ../../bridge/pgoutput.c ../../bridge/encoding.c ../../bridge/encoding_tables.c ../../bridge/log.c ../../bridge/pgoutput_reader.c ../../bridge/rowjob.c ../../bridge/json_row.c ../../bridge/tablematch.c ../../common/tablepattern.c ../../bridge/errbuf.c \
	../../bridge/lsn.c ../../bridge/message_sign.c ../../bridge/sha256.c
