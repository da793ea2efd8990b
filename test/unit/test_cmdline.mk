# test_cmdline: the recovery command's masking of secrets (bridge/cmdline.c)
test_cmdline_SRCS = ../../bridge/cmdline.c
