# test_metrics_health: /healthz's answer (bridge/metrics.c)
test_metrics_health_SRCS = ../../bridge/metrics.c ../../bridge/log.c
test_metrics_health_LIBS = -lmicrohttpd -lpthread
