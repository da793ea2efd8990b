# test_bytesize: the max-job-bytes grammar shared by plugin and bridge (common/bytesize.c)
test_bytesize_SRCS = ../../common/bytesize.c
