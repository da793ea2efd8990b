/*-------------------------------------------------------------------------
 *
 * main.c
 *		wal2queue-bridge: command line, signals, and off to bridge_run().
 *
 * Usage errors exit with status 2 and a hint; runtime errors with 1; a
 * stop by SIGINT or SIGTERM, after delivering and confirming what is in
 * flight, with 0.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "../common/bytesize.h"
#include "bridge.h"
#include "cmdline.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "pgerror.h"
#include "pgoutput.h"
#include "precheck.h"
#include "redis_sink.h"

#define PROGNAME "wal2queue-bridge"
#define W2Q_VERSION "0.1.0"
#define MAX_KAFKA_PROPS 64

/* usage(): the backfill's options */
static void
usage_backfill(void)
{
	printf("      --backfill[=SQL_CONDITION]\n");
	printf("                             with --create-slot: deliver the rows the selected tables hold\n");
	printf("                             (all, or WHERE SQL_CONDITION) exactly once, then stream; a\n");
	printf("                             restart resumes an unfinished backfill (Redis and Kafka)\n");
	printf("      --backfill-batch=N     rows per backfill page (default: 10000)\n");
	printf("      --backfill-page-bytes=SIZE\n");
	printf("                             at most SIZE bytes of rows per sink call (default: 32MB;\n");
	printf("                             kB, MB, GB): a page is cut into several atomic calls\n");
	printf("      --backfill-continue    go on with an unfinished backfill from where it stopped, with\n");
	printf("                             this command line's condition (exactly once for the rest)\n");
	printf("      --backfill-after-rewrite\n");
	printf("                             resume an unfinished backfill of a table an ALTER rewrote\n");
	printf("                             since: its rest without the snapshot filter, or whose key\n");
	printf("                             changed: again from its start (at least once)\n");
	printf("      --backfill-again[=LABEL]\n");
	printf("                             re-deliver rows selected by the condition on an existing slot:\n");
	printf("                             at least once; with LABEL only once: a restart with the\n");
	printf("                             recorded backfill's LABEL just streams; refused while\n");
	printf("                             another backfill is unfinished\n");
	printf("      --recreate-lost-slot   with --backfill: drop a lost slot (or one past an unfinished\n");
	printf("                             backfill's consistent point), create it again and backfill\n");
	printf("                             (at least once)\n");
}

static void
usage(void)
{
	printf("%s streams a wal2queue replication slot into Redis Streams or Kafka.\n\n", PROGNAME);
	printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
	printf("Options:\n");
	printf("  -d, --dbname=CONNSTR       libpq conninfo or URI; replication=database is added\n");
	printf("  -S, --slot=NAME            replication slot (default: wal2queue)\n");
	printf("      --create-slot          create the slot if it is missing (plugin wal2queue, or pgoutput and\n");
	printf("                             its publication with --plugin=pgoutput), then stream\n");
	printf("      --drop-slot            drop the slot and exit (a pgoutput slot: with --plugin=pgoutput\n");
	printf("                             --publication=NAME)\n");
	printf("      --plugin=NAME          wal2queue (default) or pgoutput, for servers that load no\n");
	printf("                             custom plugin; the bridge then applies --tables and the columns\n");
	printf("      --publication=NAME     pgoutput: the publication (--create-slot creates it if missing)\n");
	printf("  -t, --tables=PATTERNS      the tables whose rows are jobs (schema.table, * wildcards,\n");
	printf("                             comma-separated): the plugin's tables option, or with\n");
	printf("                             --plugin=pgoutput applied by the bridge to the publication's tables\n");
	printf("                             (a * never reaches schemas wal2queue, pg_* and information_schema;\n");
	printf("                             wal2queue.message_key, the signing keys, is never selected)\n");
	printf("      --route-column=COL     the column naming each job's stream or topic (the plugin's\n");
	printf("                             route-column option; with --plugin=pgoutput the bridge's)\n");
	printf("      --key-column=COL       the column giving each job's key (the plugin's key-column\n");
	printf("                             option; with --plugin=pgoutput the bridge's)\n");
	printf("      --max-job-bytes=SIZE   the plugin's max-job-bytes option: a larger job becomes a\n");
	printf("                             claim check (1kB to 256MB, decimal, unit kB, MB or GB;\n");
	printf("                             default 64MB)\n");
	printf("      --target-prefix=STR    prepended to every stream or topic name (default: none)\n");
	printf("      --sink=URL             redis://[[user]:password@]host[:port][/db] | unix:///path.sock |\n");
	printf("                             kafka://host:port[,host:port...] (default: redis://localhost:6379;\n");
	printf("                             no rediss://: for TLS use a tunnel on loopback)\n");
	printf("      --redis-maxlen=N       trim each stream to about N entries after each call\n");
	printf("                             (never the call's own entries; default: no trimming)\n");
	printf("      --redis-group=NAME     create this consumer group on each stream the bridge creates\n");
	printf("                             (XGROUP CREATE ... 0 MKSTREAM with its first entries)\n");
	printf("      --redis-wait=N[,MS]    acknowledge only once N replicas have the jobs (Redis WAIT,\n");
	printf("                             timeout MS, default 1000)\n");
	printf("  -X, --kafka-property=K=V   any librdkafka property, repeatable (Kafka only)\n");
	printf("      --value-column=COL     send this column's text as the Kafka value, not the row as JSON\n");
	printf("      --kafka-transactions   one Kafka transaction per PostgreSQL transaction\n");
	printf("      --kafka-positions-topic=NAME\n");
	printf("                             the topic of the slot's position record (default:\n");
	printf("                             wal2queue.positions; created compacted if missing; \"\": none)\n");
	usage_backfill();
	printf("      --status-interval=SECS standby status updates (default: 10)\n");
	printf("      --recv-timeout=SECS    after this long without a message from the server, ask it\n");
	printf("                             for one; no answer within as long again: reconnect\n");
	printf("                             (doubled after each such reconnect until data past what\n");
	printf("                             was received arrives; default: 60, 0: off); it also bounds a\n");
	printf("                             connect when --dbname sets no connect_timeout, and each\n");
	printf("                             command of a stream's open, the publication's included\n");
	printf("                             (at least 10 s; 60 s when off)\n");
	printf("      --standby              wait while another bridge holds the slot; take over when it dies\n");
	printf("      --accept-new-source    continue into a sink that holds another server's, timeline's or\n");
	printf("                             slot's progress, or none (a deliberate failover or restore, or\n");
	printf("                             the first run of a slot created outside the bridge)\n");
	printf("      --metrics=HOST:PORT    serve Prometheus metrics at http://HOST:PORT/metrics and health at\n");
	printf("                             /healthz (200 while streaming or standing by, else 503)\n");
	printf("      --log-status=SECS      log a one-line status every SECS seconds\n");
	printf("  -v, --verbose              more detail in the log\n");
	printf("  -q, --quiet                only warnings and errors in the log\n");
	printf("  -V, --version              print the version and exit\n");
	printf("  -?, --help                 show this help and exit\n\n");
	printf("Passwords: libpq's PGPASSWORD or ~/.pgpass; WAL2QUEUE_REDIS_PASSWORD for Redis.\n");
	printf("Signals: SIGINT or SIGTERM stop after delivering and confirming what is in flight;\n"
		   "SIGHUP, SIGUSR1 and SIGUSR2 are logged and change nothing (there is nothing to reload).\n");
}

/* --version: ours, and the libraries' this binary runs with */
static void
print_version(void)
{
	int			pq = PQlibVersion();

	printf("%s %s\n", PROGNAME, W2Q_VERSION);
	printf("frame protocol %d\n", W2Q_PROTO_VERSION);
	printf("libpq %d.%d\n", pq / 10000, pq % 10000);
	printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
	printf("librdkafka %s\n", rd_kafka_version_str());
}

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", PROGNAME);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", PROGNAME);
	exit(2);
}

static long long
parse_number(const char *arg, const char *name, long long min, long long max)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || v < min || v > max)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "invalid value \"%%s\" for %s (an integer from %lld to %lld)",
				 name, min, max);
		usage_error(msg, arg);
	}
	return v;
}

/* a byte count: an integer with an optional unit kB, MB or GB */
static long long
parse_size(const char *arg, const char *name, long long min, long long max)
{
	const char *units[] = {"", "kB", "MB", "GB"};
	char	   *end;
	long long	v;

	/* digits only: strtoll() would take a sign and blanks */
	errno = 0;
	v = isdigit((unsigned char) arg[0]) ? strtoll(arg, &end, 10) : (end = (char *) arg, 0);
	for (int u = 0; errno == 0 && end != arg && u < 4; u++)
		if (strcasecmp(end, units[u]) == 0)
		{
			/* stop before a multiplication could overflow */
			for (int i = 0; i < u && v <= max; i++)
				v = v > LLONG_MAX / 1024 ? LLONG_MAX : v * 1024;
			if (v >= min && v <= max)
				return v;
		}
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "invalid value \"%%s\" for %s (bytes from %lld to %lld, "
				 "optionally in kB, MB or GB, e.g. 16MB)", name, min, max);
		usage_error(msg, arg);
	}
	return 0;
}

static void
check_slot_name(const char *name)
{
	const char *p;

	if (*name == '\0' || strlen(name) > 63)
		usage_error("invalid slot name \"%s\" (1 to 63 characters)", name);
	for (p = name; *p; p++)
		if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
			usage_error("invalid slot name \"%s\" (use lower-case letters, digits and underscores)", name);
}

static void
handle_stop(int signo)
{
	(void) signo;
	bridge_stop_requested = 1;
}

/* SIGHUP, SIGUSR1, SIGUSR2: nothing to reload; noted, logged by the loop */
static void
handle_other(int signo)
{
	bridge_signal_noted = signo;
}

static void
set_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/*
	 * Their default ends the process without a word, and systemd counts a
	 * death by SIGHUP as a clean exit, so Restart=on-failure would not
	 * bring it back (attack 490).
	 */
	sa.sa_handler = handle_other;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

typedef struct Args
{
	const char *dbname;
	const char *slot;
	const char *sink;
	const char *tables;
	const char *route_column;
	const char *key_column;
	const char *max_job_bytes;	/* the byte count, in decimal digits */
	char		max_job_bytes_buf[24];
	bool		create_slot;
	bool		drop_slot;
	bool		quiet;
	bool		verbose;
	const char *plugin_options[16];
	const char *plugin;			/* --plugin, NULL for wal2queue */
	const char *publication;
	char	   *kafka_props[MAX_KAFKA_PROPS + 1];
	int			nprops;
	bool		positions_topic;	/* --kafka-positions-topic given */
} Args;

/* the short options, for getopt_long() and the recovery command's reading of argv */
#define SHORT_OPTIONS "d:S:t:X:vqV?"

static const struct option long_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"slot", required_argument, NULL, 'S'},
	{"create-slot", no_argument, NULL, 1},
	{"drop-slot", no_argument, NULL, 2},
	{"tables", required_argument, NULL, 't'},
	{"route-column", required_argument, NULL, 3},
	{"key-column", required_argument, NULL, 4},
	{"max-job-bytes", required_argument, NULL, 17},
	{"target-prefix", required_argument, NULL, 5},
	{"sink", required_argument, NULL, 6},
	{"redis-maxlen", required_argument, NULL, 7},
	{"redis-group", required_argument, NULL, 8},
	{"status-interval", required_argument, NULL, 9},
	{"recv-timeout", required_argument, NULL, 49},
	{"kafka-property", required_argument, NULL, 'X'},
	{"value-column", required_argument, NULL, 10},
	{"kafka-transactions", no_argument, NULL, 11},
	{"kafka-positions-topic", required_argument, NULL, 18},
	{"standby", no_argument, NULL, 12},
	{"metrics", required_argument, NULL, 13},
	{"log-status", required_argument, NULL, 14},
	{"accept-new-source", no_argument, NULL, 15},
	{"redis-wait", required_argument, NULL, 16},
	{"plugin", required_argument, NULL, 40},
	{"backfill", optional_argument, NULL, 42},
	{"backfill-batch", required_argument, NULL, 43},
	{"backfill-again", optional_argument, NULL, 44},
	{"backfill-continue", no_argument, NULL, 46},
	{"backfill-after-rewrite", no_argument, NULL, 47},
	{"backfill-page-bytes", required_argument, NULL, 48},
	{"recreate-lost-slot", no_argument, NULL, 45},
	{"publication", required_argument, NULL, 41},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"version", no_argument, NULL, 'V'},
	{"help", no_argument, NULL, '?'},
	{NULL, 0, NULL, 0}
};

/* --backfill-again=LABEL: a word recorded with the backfill */
static void
check_label(const char *arg)
{
	size_t		len = strlen(arg);

	for (const char *c = arg; *c; c++)
		if (!isalnum((unsigned char) *c) && !strchr("-_.:", *c))
			len = 0;
	if (len == 0 || len > 64)
		usage_error("invalid label \"%s\" for --backfill-again (1 to 64 letters, digits and -_.:, "
					"e.g. --backfill-again=2026-11-30)", arg);
}

static void
nonempty(const char *arg, const char *name)
{
	if (arg[0] == '\0')
		usage_error("option %s needs a non-empty value", name);
}

/* --redis-wait=NUMREPLICAS[,TIMEOUT_MS] */
static void
parse_redis_wait(const char *arg, SinkConfig *sink)
{
	char		n[32];
	const char *comma = strchr(arg, ',');
	size_t		len = comma ? (size_t) (comma - arg) : strlen(arg);

	if (len == 0 || len >= sizeof(n))
		usage_error("invalid value \"%s\" for --redis-wait (NUMREPLICAS[,TIMEOUT_MS])", arg);
	memcpy(n, arg, len);
	n[len] = '\0';
	sink->redis_wait_replicas = (int) parse_number(n, "--redis-wait replicas", 1, 1000);
	sink->redis_wait_timeout_ms = comma
		? (int) parse_number(comma + 1, "--redis-wait timeout", 1, 600000) : 1000;
}

/* --kafka-positions-topic: a Kafka topic name, or "" for none */
static void
check_positions_topic(const char *arg)
{
	size_t		len = strlen(arg);

	if (len > 249 || strcmp(arg, ".") == 0 || strcmp(arg, "..") == 0 ||
		strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		usage_error("invalid value \"%s\" for --kafka-positions-topic: a kafka topic name has "
					"only letters, digits, '.', '_' and '-' (at most 249), or is empty for none", arg);
}

/*
 * --max-job-bytes: the plugin's grammar and range (common/bytesize.h),
 * checked before anything is created; the plugin is then given, and the
 * registry records, the byte count in decimal digits: one number for all.
 */
static const char *
check_max_job_bytes(const char *arg, char *buf, size_t len)
{
	long long	n;

	if (bytesize_parse(arg, W2Q_MAX_JOB_BYTES_MIN, W2Q_MAX_JOB_BYTES_MAX, &n) != BYTESIZE_OK)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "invalid value \"%%s\" for --max-job-bytes (decimal bytes from %d "
				 "(1kB) to %d (256MB), optionally with a unit kB, MB or GB as spelled, e.g. 8kB)",
				 W2Q_MAX_JOB_BYTES_MIN, W2Q_MAX_JOB_BYTES_MAX);
		usage_error(msg, arg);
	}
	snprintf(buf, len, "%lld", n);
	return buf;
}

/* options that only fill the configuration */
static void
take_option(int c, const char *arg, Args *a, BridgeConfig *cfg)
{
	switch (c)
	{
		case 'd': a->dbname = arg; break;
		case 'S': check_slot_name(arg); a->slot = arg; break;
		case 1: a->create_slot = true; break;
		case 2: a->drop_slot = true; break;
		case 't': nonempty(arg, "--tables"); a->tables = arg; break;
		case 3: nonempty(arg, "--route-column"); a->route_column = arg; break;
		case 4: nonempty(arg, "--key-column"); a->key_column = arg; break;
		case 17: a->max_job_bytes = check_max_job_bytes(arg, a->max_job_bytes_buf, sizeof(a->max_job_bytes_buf)); break;
		case 5: cfg->sink.target_prefix = arg; break;
		case 6: a->sink = arg; break;
		case 7: cfg->sink.redis_maxlen = parse_number(arg, "--redis-maxlen", 1, INT64_MAX); break;
		case 8: nonempty(arg, "--redis-group"); cfg->sink.redis_group = arg; break;
		case 9: cfg->status_interval_ms = 1000 * (int) parse_number(arg, "--status-interval", 1, 3600); break;
		case 10: nonempty(arg, "--value-column"); cfg->sink.value_column = arg; break;
		case 11: cfg->sink.kafka_transactions = true; break;
		case 18:
			check_positions_topic(arg);
			cfg->sink.kafka_positions_topic = arg;
			a->positions_topic = true;
			break;
		case 12: cfg->standby = true; break;
		case 13: nonempty(arg, "--metrics"); cfg->metrics = arg; break;
		case 14: cfg->log_status_ms = 1000 * (int) parse_number(arg, "--log-status", 1, 86400); break;
		case 15: cfg->accept_new_source = true; break;
		case 16: parse_redis_wait(arg, &cfg->sink); break;
		case 40: a->plugin = strcmp(arg, "wal2queue") == 0 ? NULL : arg; break;
		case 41: nonempty(arg, "--publication"); a->publication = arg; break;
		case 42:
			cfg->backfill.enabled = true;
			if (arg)
				nonempty(arg, "--backfill");
			cfg->backfill.condition = arg;
			break;
		case 43: cfg->backfill.batch = (int) parse_number(arg, "--backfill-batch", 1, 1000000); break;
		case 44:
			cfg->backfill.again = true;
			if (arg)
				check_label(arg);
			cfg->backfill.again_label = arg;
			break;
		case 46: cfg->backfill.resume_condition = true; break;
		case 47: cfg->backfill.after_rewrite = true; break;
		case 49: cfg->recv_timeout_ms = 1000 * (int) parse_number(arg, "--recv-timeout", 0, 3600); break;
		case 48: cfg->backfill.page_bytes = (size_t) parse_size(arg, "--backfill-page-bytes", 1024, INT64_C(1) << 30); break;
		case 45: cfg->backfill.recreate_lost = true; break;
		case 'v': log_verbosity = 1; a->verbose = true; break;
		case 'q': log_verbosity = -1; a->quiet = true; break;
		case 'X':
			if (strchr(arg, '=') == NULL || arg[0] == '=')
				usage_error("invalid Kafka property \"%s\" (use -X key=value)", arg);
			if (a->nprops == MAX_KAFKA_PROPS)
				usage_error("too many Kafka properties at \"%s\"", arg);
			a->kafka_props[a->nprops++] = (char *) arg;
			break;
		default:
			fprintf(stderr, "Try \"%s --help\" for more information.\n", PROGNAME);
			exit(2);
	}
}

/* the long name of option code c */
static const char *
option_name(int c)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

static void
parse_args(int argc, char **argv, Args *a, BridgeConfig *cfg)
{
	int			c;

	bool		seen[256] = {false};

	while ((c = getopt_long(argc, argv, SHORT_OPTIONS, long_options, NULL)) != -1)
	{
		/* a single-valued option given twice: which one was meant? */
		if (c > 0 && c < 256 && c != 'X' && c != 'v' && c != 'q' && c != '?' && c != 'V')
		{
			if (seen[c])
				usage_error("conflicting or redundant options: --%s is given more than once",
							option_name(c));
			seen[c] = true;
		}
		if (c == 'V')
		{
			print_version();
			exit(0);
		}
		if (c == '?' && (strcmp(argv[optind - 1], "--help") == 0 ||
						 strcmp(argv[optind - 1], "-?") == 0))
		{
			usage();
			exit(0);
		}
		/* --backfill CONDITION: the condition may also be the next word */
		if (c == 42 && optarg == NULL && optind < argc && argv[optind][0] != '-')
			optarg = argv[optind++];
		take_option(c, optarg, a, cfg);
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (a->quiet && a->verbose)
		usage_error("%s", "--quiet and --verbose cannot be used together");
	if (a->create_slot && a->drop_slot)
		usage_error("%s", "--create-slot and --drop-slot cannot be used together");
	if (cfg->backfill.enabled && !a->create_slot)
		usage_error("%s", "--backfill needs --create-slot (it creates the slot with an exported snapshot)");
	if (!cfg->backfill.enabled &&
		(cfg->backfill.batch || cfg->backfill.again || cfg->backfill.recreate_lost ||
		 cfg->backfill.resume_condition || cfg->backfill.after_rewrite || cfg->backfill.page_bytes))
		usage_error("%s", "--backfill-batch, --backfill-page-bytes, --backfill-again, --backfill-continue, "
					"--backfill-after-rewrite and --recreate-lost-slot need --backfill");
	if (cfg->backfill.resume_condition && cfg->backfill.again)
		usage_error("%s", "--backfill-continue and --backfill-again cannot be used together: "
					"--backfill-continue goes on with an unfinished backfill, --backfill-again starts a new "
					"one once the recorded one is done");
	if (!cfg->backfill.batch)
		cfg->backfill.batch = BACKFILL_DEFAULT_BATCH;
	if (!cfg->backfill.page_bytes)
		cfg->backfill.page_bytes = BACKFILL_DEFAULT_PAGE_BYTES;
}

/* the command line for recovery hints; lives as long as the process */
static char *command_line;

static void
free_command_line(void)
{
	free(command_line);
	command_line = NULL;
}

/*
 * argv as a shell command, plus what recovering a lost slot needs; the
 * secrets of -d, --sink and -X masked as *** (cmdline.c), since hints go
 * into the log
 */
static char *
recovery_command(int argc, char **argv, const Args *a, const BridgeConfig *cfg)
{
	const CmdlineSecrets secrets = {'d', 6, 'X'};
	bool		masked;
	char	   *cmd = cmdline_redacted(argc, argv, PROGNAME, SHORT_OPTIONS, long_options,
									   &secrets, &masked);
	char	   *out;

	if (cmd == NULL || (out = malloc(strlen(cmd) + 64)) == NULL)
	{
		free(cmd);
		return NULL;
	}
	sprintf(out, "%s%s%s%s", cmd, a->create_slot ? "" : " --create-slot",
			cfg->backfill.recreate_lost ? "" : " --recreate-lost-slot",
			cfg->backfill.enabled ? "" : " --backfill");
	free(cmd);
	return out;
}

/* the plugin options for START_REPLICATION */
static void
plugin_options(Args *a)
{
	const char *const opts[][2] = {
		{"proto-version", "1"},
		{"format", "binary"},
		{"tables", a->tables},
		{"route-column", a->route_column},
		{"key-column", a->key_column},
		{"max-job-bytes", a->max_job_bytes},
	};
	int			n = 0;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
	{
		if (opts[i][1] == NULL)
			continue;
		a->plugin_options[n++] = opts[i][0];
		a->plugin_options[n++] = opts[i][1];
	}
	a->plugin_options[n] = NULL;
}

/* --plugin=pgoutput: the bridge selects tables and columns itself */
static void
pgoutput_options(Args *a, PgoConfig *pgo, char *pubbuf, size_t pubbuflen)
{
	char		err[512];

	if (a->plugin && strcmp(a->plugin, "pgoutput") != 0)
		usage_error("invalid value \"%s\" for --plugin (use wal2queue, or pgoutput on a server "
					"that loads no custom output plugin)", a->plugin);
	if (a->plugin == NULL)
	{
		if (a->publication)
			usage_error("%s", "--publication needs --plugin=pgoutput");
		/* the plugin's own rules: refuse before --create-slot creates a slot */
		if (!tablematch_parse(a->tables, &pgo->tables, err, sizeof(err)))
			usage_error("%s", err);
		tablematch_free(&pgo->tables);
		return;
	}
	if (a->publication == NULL)
		usage_error("%s", "--plugin=pgoutput needs --publication=NAME (--create-slot creates it)");
	if (a->max_job_bytes)
		usage_error("%s", "--max-job-bytes is an option of the wal2queue plugin (claim checks); "
					"pgoutput sends every row whole");
	if (!tablematch_parse(a->tables, &pgo->tables, err, sizeof(err)))
		usage_error("%s", err);
	pgo->publication = a->publication;
	pgo->tables_text = a->tables;
	pgo->route_column = a->route_column;
	pgo->key_column = a->key_column;
	pgo_plugin_options(pgo, pubbuf, pubbuflen, a->plugin_options);
}

/*
 * Warn about a selection that streams nothing, or that roles other than the
 * schemas' owners can add tables to, on a short connection of its own; if
 * it cannot connect, bridge_run() will say why (or retry).
 */
static void
precheck(const Args *a, const BridgeConfig *cfg)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {a->dbname, "database", "wal2queue-bridge", NULL};
	PrecheckOptions opts = {a->tables, a->route_column, a->key_column, cfg->sink.value_column};
	PgConnectFailure f;
	PGconn	   *conn;

	if ((conn = pgerror_connect(keys, vals, &f)) == NULL)
	{
		log_msg(LOG_DEBUG, "could not check --tables and columns: %s", f.message);
		return;
	}
	precheck_run(conn, &opts);
	PQfinish(conn);
}

/*
 * What a sink would refuse only once it runs (at its first job, or when it
 * connects after --create-slot made the slot) is a usage error now, before
 * anything is created: a --target-prefix that makes every Redis key one the
 * bridge keeps for itself (sink_redis.c diverts, then refuses, such keys),
 * and the Kafka configuration (kafka_conf.c).
 */
static void
check_sink(const SinkConfig *sink, const char *tables)
{
	const char *prefix = sink->target_prefix ? sink->target_prefix : "";
	char		err[SINK_ERRLEN];

	if (sink->url.kind == SINK_KAFKA)
	{
		if (sink_kafka_check(sink, err, sizeof(err)) != 0 ||
			sink_kafka_check_positions(sink, tables, err, sizeof(err)) != 0)
			usage_error("%s", err);
	}
	else if (redis_reserved_key(prefix, strlen(prefix), strlen(prefix)))
	{
		snprintf(err, sizeof(err), "invalid value for --target-prefix \"%s\": every stream key "
				 "begins with it, and a key containing \"wal2queue:progress:\" or "
				 "\"wal2queue:stage:\" is one wal2queue keeps for itself (docs/redis.md)", prefix);
		usage_error("%s", err);
	}
}

/* the settings of each part, from the command line */
static void
config_from_args(int argc, char **argv, Args *a, BridgeConfig *cfg)
{
	static PgoConfig pgo;
	static char pubbuf[256];

	cfg->sink.target_prefix = "";
	cfg->sink.kafka_positions_topic = "wal2queue.positions";
	parse_args(argc, argv, a, cfg);
	plugin_options(a);
	pgoutput_options(a, &pgo, pubbuf, sizeof(pubbuf));
	cfg->stream.plugin = a->plugin;
	cfg->stream.pgoutput = a->plugin ? &pgo : NULL;
	cfg->stream.conninfo = a->dbname;
	cfg->stream.slot = a->slot;
	cfg->stream.create_slot = a->create_slot;
	cfg->stream.plugin_options = a->plugin_options;
	command_line = recovery_command(argc, argv, a, cfg);
	atexit(free_command_line);
	cfg->stream.command_line = command_line;
	cfg->backfill.tables = a->tables;
	cfg->backfill.publication = a->plugin ? a->publication : NULL;
	cfg->backfill.route_column = a->route_column;
	cfg->backfill.key_column = a->key_column;
	cfg->sink.kafka_props = a->kafka_props;
	cfg->sink.slot = a->slot;
	cfg->sink.verbose = log_verbosity;
	cfg->sink.plugin = a->plugin ? a->plugin : "wal2queue";
	cfg->sink.key_column = a->key_column;
	cfg->sink.route_column = a->route_column;
	cfg->sink.tables = a->tables;
	cfg->sink.publication = a->plugin ? a->publication : NULL;
}

/* --drop-slot: never the slot of a live backfill (its lock is held meanwhile) */
static int
drop_slot(BridgeConfig *cfg, const char *slot)
{
	Stream		s;
	PGconn	   *lock;
	char		err[512];
	int			rc;

	if ((lock = backfill_lock_hold(cfg, err, sizeof(err))) == NULL)
	{
		log_msg(LOG_ERROR, "could not drop replication slot \"%s\": %s", slot, err);
		return 1;
	}
	stream_init(&s, &cfg->stream);
	if ((rc = stream_drop_slot(&s)) != STREAM_OK)
		log_msg(LOG_ERROR, "could not drop replication slot \"%s\": %s", slot, s.err);
	PQfinish(lock);
	return rc == STREAM_OK ? 0 : 1;
}

/* --sink, and the options that need one kind of sink */
static void
sink_from_args(const Args *a, BridgeConfig *cfg)
{
	char		err[512];

	if (sink_url_parse(a->sink, &cfg->sink.url, err, sizeof(err)) != 0)
		usage_error("invalid value for --sink: %s", err);
	if (cfg->sink.url.kind != SINK_KAFKA &&
		(a->nprops > 0 || cfg->sink.value_column || cfg->sink.kafka_transactions ||
		 a->positions_topic))
		usage_error("%s", "-X, --value-column, --kafka-transactions and --kafka-positions-topic "
					"need a kafka:// sink");
	if (cfg->sink.url.kind == SINK_KAFKA &&
		(cfg->sink.redis_maxlen || cfg->sink.redis_group || cfg->sink.redis_wait_replicas))
		usage_error("%s", "--redis-maxlen, --redis-group and --redis-wait need a Redis sink");
	check_sink(&cfg->sink, a->tables);
}

int
main(int argc, char **argv)
{
	Args		a = {.dbname = "", .slot = "wal2queue", .sink = "redis://localhost:6379"};
	BridgeConfig cfg = {.status_interval_ms = 10000, .recv_timeout_ms = 60000,
	.max_pending_bytes = BRIDGE_DEFAULT_MAX_PENDING};
	char		err[512];
	int			rc;

	config_from_args(argc, argv, &a, &cfg);
	if (a.drop_slot)
		return drop_slot(&cfg, a.slot);
	sink_from_args(&a, &cfg);

	set_signals();
	/* a connect without connect_timeout: bounded by --recv-timeout, stopped by SIGTERM */
	pgerror_set_connect_limits(cfg.recv_timeout_ms / 1000, &bridge_stop_requested);
	if (cfg.metrics && (rc = metrics_start(cfg.metrics, err, sizeof(err))) != 0)
	{
		if (rc == METRICS_BAD_ADDRESS)
			usage_error("%s", err);
		log_msg(LOG_ERROR, "%s", err);
		sink_url_free(&cfg.sink.url);
		return 1;
	}
	if (cfg.backfill.enabled &&
		(rc = backfill_check(&cfg, err, sizeof(err))) != BACKFILL_CHECK_OK)
	{
		if (rc == BACKFILL_CHECK_USAGE)
			usage_error("%s", err);
		log_msg(LOG_ERROR, "%s", err);
		metrics_stop();
		sink_url_free(&cfg.sink.url);
		return 1;
	}
	precheck(&a, &cfg);
	rc = bridge_run(&cfg);
	metrics_stop();
	sink_url_free(&cfg.sink.url);
	return rc;
}
