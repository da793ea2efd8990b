test_sha256_SRCS = ../../bridge/sha256.c
