# test_metrics_format: /metrics' text (bridge/metrics.c)
test_metrics_format_SRCS = ../../bridge/metrics.c ../../bridge/log.c
test_metrics_format_LIBS = -lmicrohttpd -lpthread
