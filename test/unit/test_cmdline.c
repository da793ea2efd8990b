/*-------------------------------------------------------------------------
 *
 * test_cmdline.c
 *		Unit tests of bridge/cmdline.c: the command line of the lost slot's
 *		recovery hint keeps no password, secret or key of -d, --sink or -X,
 *		and the rest stays copy-pasteable.
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdlib.h>

#include "cmdline.h"
#include "unit.h"

/* the bridge's options that matter here (main.c) */
static const struct option opts[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"slot", required_argument, NULL, 'S'},
	{"create-slot", no_argument, NULL, 1},
	{"sink", required_argument, NULL, 6},
	{"kafka-property", required_argument, NULL, 'X'},
	{"backfill", optional_argument, NULL, 42},
	{"status-interval", required_argument, NULL, 9},
	{"verbose", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0}
};
static const CmdlineSecrets secrets = {'d', 6, 'X'};

/* argv (NULL-terminated, without argv[0]) read and masked */
static void
check(const char *const *args, const char *want, bool want_masked, const char *desc)
{
	char	   *argv[32] = {"wal2queue-bridge"};
	int			argc = 1;
	bool		masked = !want_masked;
	char	   *got;

	while (*args)
		argv[argc++] = (char *) *args++;
	got = cmdline_redacted(argc, argv, "wal2queue-bridge", "d:S:t:X:vqV?", opts, &secrets, &masked);
	unit_check_str(got, want, desc);
	unit_check(masked == want_masked, "%s: masked is %s", desc, want_masked ? "true" : "false");
	free(got);
}

static void
check_value(char *(*fn) (const char *, bool *), const char *in, const char *want, const char *desc)
{
	bool		masked = false;
	char	   *got = fn(in, &masked);

	unit_check_str(got, want, desc);
	unit_check(masked == (strcmp(in, want) != 0), "%s: masked tells", desc);
	free(got);
}

static void
test_conninfo(void)
{
	check_value(cmdline_mask_conninfo, "host=h user=u password=pw dbname=db",
				"host=h user=u password=*** dbname=db", "conninfo: password=");
	check_value(cmdline_mask_conninfo, "password = 'p w\\' x' host=h",
				"password = *** host=h", "conninfo: quoted password with spaces and an escaped quote");
	check_value(cmdline_mask_conninfo, "host=h sslpassword=k\\ ey port=5",
				"host=h sslpassword=*** port=5", "conninfo: sslpassword with an escaped space");
	check_value(cmdline_mask_conninfo, "host=h passfile=/x user=password",
				"host=h passfile=/x user=password", "conninfo: a user named password is kept");
	check_value(cmdline_mask_conninfo, "postgres", "postgres", "conninfo: a database name is kept");
	check_value(cmdline_mask_conninfo, "host=h garbage", "host=h garbage***",
				"conninfo: what libpq refuses keeps nothing past the key");
	check_value(cmdline_mask_conninfo, "postgresql://u:p%40w@h:5432/db?sslmode=require",
				"postgresql://u:***@h:5432/db?sslmode=require", "URI: user:password@");
	check_value(cmdline_mask_conninfo, "postgres://u@h/db", "postgres://u@h/db", "URI: a user alone is kept");
	check_value(cmdline_mask_conninfo, "postgresql://h/db?user=u&password=pw&sslmode=disable",
				"postgresql://h/db?user=u&password=***&sslmode=disable", "URI: ?password=");
	check_value(cmdline_mask_conninfo, "postgresql:///db?pass%77ord=pw",
				"postgresql:///db?pass%77ord=***", "URI: a percent-escaped password keyword");
	check_value(cmdline_mask_conninfo, "postgresql://h/db?sslpassword=k",
				"postgresql://h/db?sslpassword=***", "URI: ?sslpassword=");
}

static void
test_sink_and_property(void)
{
	check_value(cmdline_mask_sink_url, "redis://:pw@127.0.0.1:6379/2", "redis://:***@127.0.0.1:6379/2",
				"redis: :password@");
	check_value(cmdline_mask_sink_url, "REDIS://user:p@w@h:1", "REDIS://user:***@h:1",
				"redis: user:password@ up to the last @, scheme in capitals");
	check_value(cmdline_mask_sink_url, "redis://user@h:1", "redis://user@h:1", "redis: a user alone is kept");
	check_value(cmdline_mask_sink_url, "redis://127.0.0.1:6379", "redis://127.0.0.1:6379", "redis: no user info");
	check_value(cmdline_mask_sink_url, "kafka://b1:9092,b2:9092", "kafka://b1:9092,b2:9092", "kafka: kept");
	check_value(cmdline_mask_property, "sasl.password=pw", "sasl.password=***", "-X sasl.password");
	check_value(cmdline_mask_property, "ssl.key.password=pw", "ssl.key.password=***", "-X ssl.key.password");
	check_value(cmdline_mask_property, "sasl.oauthbearer.client.secret=s", "sasl.oauthbearer.client.secret=***",
				"-X sasl.oauthbearer.client.secret");
	check_value(cmdline_mask_property, "sasl.oauthbearer.config=principal=a secret=b",
				"sasl.oauthbearer.config=***", "-X sasl.oauthbearer.config");
	check_value(cmdline_mask_property, "ssl.key.pem=-----BEGIN", "ssl.key.pem=***", "-X ssl.key.pem");
	check_value(cmdline_mask_property, "sasl.username=alice", "sasl.username=alice", "-X sasl.username is kept");
	check_value(cmdline_mask_property, "acks=all", "acks=all", "-X acks is kept");
}

static void
test_argv(void)
{
	check((const char *[]) {"-d", "host=h password=pw", "--slot", "s", "--sink", "redis://:rp@h:1", NULL},
		  "wal2queue-bridge -d 'host=h password=***' --slot s --sink 'redis://:***@h:1'", true,
		  "argv: separate values");
	check((const char *[]) {"--dbname=host=h password=pw", "--sink=redis://u:rp@h:1", "-Xsasl.password=x", NULL},
		  "wal2queue-bridge '--dbname=host=h password=***' '--sink=redis://u:***@h:1' '-Xsasl.password=***'",
		  true, "argv: joined values");
	check((const char *[]) {"--db", "password=pw", "--si=redis://:rp@h", "-vdpassword=pw", "-X", "sasl.password=x", NULL},
		  "wal2queue-bridge --db 'password=***' '--si=redis://:***@h' '-vdpassword=***' -X 'sasl.password=***'",
		  true, "argv: abbreviated long options and a cluster of short ones");
	check((const char *[]) {"--slot", "-d", "--backfill=password = 'x'", "--create-slot", NULL},
		  "wal2queue-bridge --slot -d '--backfill=password = '\\''x'\\''' --create-slot", false,
		  "argv: a slot named -d and a backfill condition are not secrets");
	check((const char *[]) {"-d", "dbname=postgres user=u", "--sink", "redis://127.0.0.1:6379", "--status-interval", "1", NULL},
		  "wal2queue-bridge -d 'dbname=postgres user=u' --sink redis://127.0.0.1:6379 --status-interval 1", false,
		  "argv: nothing secret, nothing changed");
	check((const char *[]) {"-d", NULL}, "wal2queue-bridge -d", false, "argv: -d without a value");
}

int
main(void)
{
	test_conninfo();
	test_sink_and_property();
	test_argv();
	return unit_done();
}
