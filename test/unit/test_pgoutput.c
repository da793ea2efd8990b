/*-------------------------------------------------------------------------
 *
 * test_pgoutput.c
 *		The pgoutput reader on real pgoutput bytes (pgoutput_sample.h):
 *		the callbacks it makes are written down as a transcript and compared
 *		with what the plugin's frames give for the same rows (targets, keys,
 *		kinds, seq, commit LSNs, commit time); then --tables, route and key
 *		columns, replica identities, a Relation re-sent mid-stream, domains,
 *		reset, malformed messages, and the --tables pattern matcher.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsn.h"
#include "pgoutput.h"
#include "pgoutput_sample.h"
#include "tablematch.h"
#include "unit.h"

static char transcript[8192];

static void
out(const char *fmt,...)
	__attribute__((format(printf, 1, 2)));

static void
out(const char *fmt,...)
{
	size_t		n = strlen(transcript);
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(transcript + n, sizeof(transcript) - n, fmt, ap);
	va_end(ap);
}

static int
on_begin(void *arg, const FrameTxn *txn)
{
	char		a[LSN_STRLEN];

	(void) arg;
	out("B %u %s %lld|", txn->xid, lsn_format(txn->commit_lsn, a, sizeof(a)),
		(long long) txn->commit_time_us);
	return 0;
}

static int
on_job(void *arg, const FrameTxn *txn, const FrameJob *job)
{
	uint32_t	i;

	(void) arg;
	(void) txn;
	out("J%u %.*s", job->seq, (int) job->target.len, job->target.data);
	if (job->has_key)
		out(" key=%.*s", (int) job->key.len, job->key.data);
	if (job->is_message)
		out(" payload=%.*s|", (int) job->payload.len, job->payload.data);
	else
	{
		out(" %.*s(", (int) job->rel->name.len, job->rel->name.data);
		for (i = 0; i < job->rel->ncols; i++)
		{
			const FrameValue *v = &job->values[i];

			out("%s%.*s:%c=", i ? "," : "", (int) job->rel->cols[i].name.len,
				job->rel->cols[i].name.data, job->rel->cols[i].kind);
			if (v->isnull)
				out("NULL");
			else
				out("%.*s", (int) v->data.len, v->data.data);
		}
		out(")|");
	}
	return 0;
}

static int
on_commit(void *arg, const FrameTxn *txn)
{
	char		a[LSN_STRLEN];
	char		b[LSN_STRLEN];

	(void) arg;
	out("C %u %s %s %u|", txn->xid, lsn_format(txn->commit_lsn, a, sizeof(a)),
		lsn_format(txn->end_lsn, b, sizeof(b)), txn->njobs);
	return 0;
}

static const FrameHandlers handlers = {on_begin, on_job, on_commit};

/* the end_lsn the begin callback sees */
static uint64_t begin_end_lsn;

static int
on_begin_end(void *arg, const FrameTxn *txn)
{
	begin_end_lsn = txn->end_lsn;
	return on_begin(arg, txn);
}

static int
feed(PgoDecoder *dec, const char *hex, char *err, size_t errlen)
{
	unsigned char buf[1024];
	size_t		n = pgo_unhex(hex, buf, sizeof(buf));

	return pgo_decode(dec, (const char *) buf, n, &handlers, NULL, err, errlen);
}

/* what run_sample's decoder is told of PUBLIC's right to emit messages */
static int	sample_messages_public = 0;
static uint64_t sample_messages_ignored;

/* the whole sample through a decoder configured by cfg; the transcript */
static const char *
run_sample(PgoConfig *cfg, int *rc)
{
	PgoDecoder	dec;
	char		err[256] = "";
	int			i;

	transcript[0] = '\0';
	*rc = 0;
	pgo_decoder_init(&dec, cfg);
	dec.messages_public = sample_messages_public;
	for (i = 0; pgo_sample[i] && *rc == 0; i++)
		if ((*rc = feed(&dec, pgo_sample[i], err, sizeof(err))) != 0)
			out("ERROR at %d: %s", i, err);
	sample_messages_ignored = dec.messages_ignored;
	pgo_decoder_free(&dec);
	return transcript;
}

static PgoConfig
config(const char *tables, const char *route, const char *key)
{
	PgoConfig	cfg = {"pub", {0}, tables, route, key};
	char		err[256];

	if (!tablematch_parse(tables, &cfg.tables, err, sizeof(err)))
		printf("# %s\n", err);
	return cfg;
}

#define JOBS1 "public.jobs(id:n=1,queue:t=emails,n:n=1.50,f:n=NaN,b:b=t,j:j={\"a\": [1, \"x\"]}," \
	"t:t=2024-01-02 03:04:05.123456+00,arr:t={1,2},nul:t=NULL,i8:n=9007199254740993)"
#define JOBS2 "public.jobs(id:n=2,queue:t=NULL,n:n=NULL,f:n=NULL,b:b=NULL,j:j=NULL,t:t=NULL," \
	"arr:t=NULL,nul:t=NULL,i8:n=NULL,extra:t=e)"
#define TXN1_B "B 729 0/154C0D8 1795998022600191|"
#define TXN1_C "C 729 0/154C0D8 0/154C108 3|"

static void
test_sample(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	int			rc;

	unit_check_str(run_sample(&cfg, &rc),
				   TXN1_B
				   "J0 public.jobs key=1 " JOBS1 "|"
				   "J1 tgt key=k1 payload=payload one|"
				   "J2 public.comp key=[\"7\",\"x,y\"] public.comp(a:n=7,b:t=x,y,payload:t=p)|"
				   TXN1_C
				   "B 730 0/154C230 1795998022600948|"
				   "J0 public.dom key=5 public.dom(id:n=5,v:t=five)|"
				   "C 730 0/154C230 0/154C260 1|"
				   "B 733 0/154CE20 1795998022627619|"
				   "J0 public.jobs key=2 " JOBS2 "|"
				   "C 733 0/154CE20 0/154CE50 1|",
				   "real pgoutput bytes: the plugin's jobs (kinds by type OID, domain over int4 a "
				   "number, messages by prefix, seq across rows and messages, commit LSN, end LSN "
				   "at commit, commit time in Unix microseconds, the relation re-described)");
	unit_check(rc == 0, "the sample decodes without error");
	tablematch_free(&cfg.tables);
}

/* while PUBLIC may emit messages (or it is not known), a message is no job */
static void
test_messages_public(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	int			rc;
	int			judged[] = {1, -1};

	for (int i = 0; i < 2; i++)
	{
		char		desc[128];

		snprintf(desc, sizeof(desc), "messages_public %d: the wal2queue message is no job and "
				 "takes no seq", judged[i]);
		sample_messages_public = judged[i];
		unit_check_str(run_sample(&cfg, &rc),
					   TXN1_B
					   "J0 public.jobs key=1 " JOBS1 "|"
					   "J1 public.comp key=[\"7\",\"x,y\"] public.comp(a:n=7,b:t=x,y,payload:t=p)|"
					   "C 729 0/154C0D8 0/154C108 2|"
					   "B 730 0/154C230 1795998022600948|"
					   "J0 public.dom key=5 public.dom(id:n=5,v:t=five)|"
					   "C 730 0/154C230 0/154C260 1|"
					   "B 733 0/154CE20 1795998022627619|"
					   "J0 public.jobs key=2 " JOBS2 "|"
					   "C 733 0/154CE20 0/154CE50 1|", desc);
		unit_check(rc == 0 && sample_messages_ignored == 1,
				   "messages_public %d: the message is counted as ignored (%llu)", judged[i],
				   (unsigned long long) sample_messages_ignored);
	}
	sample_messages_public = 0;
	tablematch_free(&cfg.tables);
}

static void
test_selection(void)
{
	PgoConfig	cfg = config("public.jobs, public.d*", "queue", "payload");
	int			rc;

	unit_check_str(run_sample(&cfg, &rc),
				   TXN1_B
				   "J0 emails key=1 " JOBS1 "|"
				   "J1 tgt key=k1 payload=payload one|"
				   "C 729 0/154C0D8 0/154C108 2|"
				   "B 730 0/154C230 1795998022600948|"
				   "J0 public.dom key=5 public.dom(id:n=5,v:t=five)|"
				   "C 730 0/154C230 0/154C260 1|"
				   "B 733 0/154CE20 1795998022627619|"
				   "J0 public.jobs key=2 " JOBS2 "|"
				   "C 733 0/154CE20 0/154CE50 1|",
				   "--tables leaves public.comp out and seq has no gap; --route-column: the value, "
				   "or the table when NULL; --key-column only where the table has it (else the "
				   "primary key, as the plugin)");
	tablematch_free(&cfg.tables);

	cfg = config("public.comp", NULL, "b");
	unit_check_str(run_sample(&cfg, &rc),
				   TXN1_B
				   "J0 tgt key=k1 payload=payload one|"
				   "J1 public.comp key=x,y public.comp(a:n=7,b:t=x,y,payload:t=p)|"
				   "C 729 0/154C0D8 0/154C108 2|",
				   "transactions without a selected job give no callbacks at all; --key-column "
				   "replaces a composite key");
	tablematch_free(&cfg.tables);
}

/* the sample with the replica identity byte of jobs' Relation set to ident */
static const char *
run_with_identity(char ident)
{
	PgoConfig	cfg = config("public.jobs", NULL, NULL);
	PgoDecoder	dec;
	char		rel[1024];
	char		err[256];
	int			i;

	snprintf(rel, sizeof(rel), "%s", pgo_sample[1]);
	/* 'R', relid, "public\0", "jobs\0": the identity is byte 17 */
	snprintf(rel + 34, 3, "%02x", (unsigned char) ident);
	rel[36] = pgo_sample[1][36];
	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	for (i = 0; i < 3; i++)
		if (feed(&dec, i == 1 ? rel : pgo_sample[i], err, sizeof(err)) != 0)
			out("ERROR: %s", err);
	pgo_decoder_free(&dec);
	tablematch_free(&cfg.tables);
	return transcript;
}

static void
test_identity(void)
{
	unit_check_str(run_with_identity('d'), TXN1_B "J0 public.jobs key=1 " JOBS1 "|",
				   "replica identity default: the flagged primary key");
	unit_check_str(run_with_identity('f'), TXN1_B "J0 public.jobs " JOBS1 "|",
				   "replica identity full: no key (use --key-column)");
	unit_check_str(run_with_identity('n'), TXN1_B "J0 public.jobs " JOBS1 "|",
				   "replica identity nothing: no key");
	unit_check(strncmp(run_with_identity('x'),
					   "ERROR: pgoutput 'R' message at byte 20: unknown replica identity 0x78",
					   68) == 0,
				   "an unknown replica identity is an error naming it");
}

/* the begin callback sees end = commit + 1; the commit the real end */
static void
test_end_lsn(void)
{
	FrameHandlers h = {on_begin_end, on_job, on_commit};
	PgoDecoder	dec;
	unsigned char buf[1024];
	char		err[256];
	size_t		n;
	int			i;

	pgo_decoder_init(&dec, NULL);
	dec.messages_public = 0;
	transcript[0] = '\0';
	for (i = 0; i <= 7; i++)
	{
		n = pgo_unhex(pgo_sample[i], buf, sizeof(buf));
		pgo_decode(&dec, (const char *) buf, n, &h, NULL, err, sizeof(err));
	}
	unit_check(begin_end_lsn == 0x154C0D8 + 1,
			   "begin: end_lsn is commit_lsn + 1 until the commit tells it");
	unit_check(strstr(transcript, TXN1_C) != NULL, "commit: the real end_lsn");
	pgo_decoder_free(&dec);
}

static void
test_reset(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoDecoder	dec;
	char		err[256];
	int			rc;

	pgo_decoder_init(&dec, &cfg);
	feed(&dec, pgo_sample[0], err, sizeof(err));
	feed(&dec, pgo_sample[1], err, sizeof(err));
	feed(&dec, pgo_sample[2], err, sizeof(err));
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	unit_check(rc == FRAME_MALFORMED && strstr(err, "begin inside a transaction"),
			   "a second begin without commit is refused: %s", err);
	pgo_decoder_reset(&dec);
	transcript[0] = '\0';
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	rc |= feed(&dec, pgo_sample[1], err, sizeof(err));
	rc |= feed(&dec, pgo_sample[2], err, sizeof(err));
	rc |= feed(&dec, pgo_sample[7], err, sizeof(err));
	unit_check(rc == 0 && strstr(transcript, "J0 public.jobs key=1 ") != NULL &&
			   strstr(transcript, "C 729 0/154C0D8 0/154C108 1|") != NULL,
			   "after a reset the transaction starts again with seq 0");
	pgo_decoder_reset(&dec);
	feed(&dec, pgo_sample[0], err, sizeof(err));
	rc = feed(&dec, pgo_sample[2], err, sizeof(err));
	unit_check(rc == FRAME_MALFORMED && strstr(err, "unknown relation 16384"),
			   "a reset forgets the relations (a new walsender describes them again): %s", err);
	pgo_decoder_free(&dec);
	tablematch_free(&cfg.tables);
}

typedef struct Bad
{
	const char *desc;
	int			prelude;		/* sample messages fed first */
	const char *hex;
	const char *want;
} Bad;

static void
test_malformed(void)
{
	static const Bad bad[] = {
		{"empty message", 0, "", "empty pgoutput message"},
		{"unknown type", 0, "53", "pgoutput 'S' message at byte 0: unknown message type"},
		{"insert outside a transaction", 0, "49000040004e0000", "insert outside a transaction"},
		{"commit outside a transaction", 0, "4300000000000154c0d8000000000154c1080003047224efa5ff",
		"commit outside a transaction"},
		{"unknown relation", 1, "49000099994e0000", "unknown relation 39321"},
		{"truncated begin", 0, "42000000000154c0d80003047224ef", "commit time runs past the end"},
		{"trailing bytes", 0, "42000000000154c0d80003047224efa5ff000002d900", "1 trailing bytes"},
		{"commit lsn mismatch", 3, "4300000000000154c0d9000000000154c1080003047224efa5ff",
		"commit lsn 0/154C0D9 does not match begin lsn 0/154C0D8"},
		{"end before commit", 3, "4300000000000154c0d8000000000154c0d80003047224efa5ff",
		"end lsn 0/154C0D8 is not past commit lsn 0/154C0D8"},
		{"row of the wrong width", 2, "49000040004e00027400000001317400000001320000",
		"row has 2 columns, relation 16384 has 10"},
		{"unchanged-toast value in an insert", 3,
			"49000040074e0003750000000001377400000001707400000001700000",
		"value 0 has kind 0x75"},
		{"value longer than the message", 3, "49000040074e00037400ffffff31",
		"value 0 runs past the end of the message"},
		{"unterminated prefix", 1, "4d01000000000154bf9877616c32", "prefix is not terminated"},
		{"transactional message outside a transaction", 0,
			"4d01000000000154bf9877616c3271756575650000000000",
		"transactional message outside a transaction"},
		{"unterminated relation name", 0, "52000040007075626c6963006a6f6273",
		"relation name is not terminated"},
		{"too many columns for the bytes", 0, "52000040007075626c6963006a6f627300640040",
		"relation has 64 columns but the message has only 0 bytes left"},
		{"a second 'N' tuple kind", 3, "49000040074b", "tuple kind 0x4b where 'N' expected"},
	};
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		PgoConfig	cfg = config(NULL, NULL, NULL);
		PgoDecoder	dec;
		char		err[256] = "";
		int			rc = 0;
		int			j;

		pgo_decoder_init(&dec, &cfg);
		for (j = 0; j < bad[i].prelude; j++)
			feed(&dec, pgo_sample[j == 2 && bad[i].prelude == 3 ? 5 : j], err, sizeof(err));
		rc = feed(&dec, bad[i].hex, err, sizeof(err));
		unit_check(rc == FRAME_MALFORMED && strstr(err, bad[i].want) != NULL,
				   "%s: %s", bad[i].desc, err);
		pgo_decoder_free(&dec);
		tablematch_free(&cfg.tables);
	}
}

static void
test_tablematch(void)
{
	TablePatterns p;
	char		err[256];
	char		longname[64];

	unit_check(tablematch_parse("public.jobs, app.job_*,*.q", &p, err, sizeof(err)) && p.n == 3,
			   "three patterns");
	unit_check(tablematch_match(&p, "public", "jobs") && tablematch_match(&p, "app", "job_1") &&
			   tablematch_match(&p, "x", "q") && !tablematch_match(&p, "public", "jobs2") &&
			   !tablematch_match(&p, "app", "jobs") && !tablematch_match(&p, "app.x", "q2"),
			   "exact, prefix and schema wildcards");
	tablematch_free(&p);
	unit_check(tablematch_parse("pub*.j*s", &p, err, sizeof(err)) &&
			   !tablematch_match(&p, "public", "a.jobs") && tablematch_match(&p, "public", "j.s") &&
			   !tablematch_match(&p, "pub.lic", "x"),
			   "'*' never crosses the dot: schema and table are matched apart");
	tablematch_free(&p);
	unit_check(tablematch_parse("*", &p, err, sizeof(err)) && tablematch_match(&p, "a", "b"),
			   "* is every table");
	tablematch_free(&p);
	unit_check(tablematch_parse("public.*a*a*a*a*a*a*a*b", &p, err, sizeof(err)), "many stars");
	memset(longname, 'a', 63);
	longname[63] = '\0';
	unit_check(!tablematch_match(&p, "public", longname), "no match without backtracking");
	tablematch_free(&p);
	unit_check(tablematch_parse("*.*, pg_catalog.pg_class, wal2queue.*", &p, err, sizeof(err)) &&
			   tablematch_match(&p, "public", "jobs") && tablematch_match(&p, "pg_catalog", "pg_class") &&
			   tablematch_match(&p, "wal2queue", "slots") && !tablematch_match(&p, "wal2queue", "message_key") &&
			   !tablematch_match(&p, "pg_catalog", "pg_proc") && !tablematch_match(&p, "information_schema", "x"),
			   "a '*' schema part never reaches wal2queue or the system's schemas; message_key never");
	tablematch_free(&p);
	unit_check(tablematch_parse("*, w*.*", &p, err, sizeof(err)) && !tablematch_match(&p, "wal2queue", "slots") &&
			   !tablematch_match(&p, "pg_toast", "t") && tablematch_match(&p, "wal2queue2", "slots"),
			   "\"*\" alone neither");
	tablematch_free(&p);
	unit_check(!tablematch_parse("public.jobs, wal2queue.message_key", &p, err, sizeof(err)) &&
			   strstr(err, "invalid pattern \"wal2queue.message_key\" in --tables: the extension's signing keys are never streamed"),
			   "the key table named: %s", err);
	unit_check(!tablematch_parse("jobs", &p, err, sizeof(err)) &&
			   strstr(err, "invalid pattern \"jobs\" in --tables: not schema-qualified"),
			   "unqualified: %s", err);
	unit_check(!tablematch_parse("a.b.c", &p, err, sizeof(err)) && strstr(err, "more than one"),
			   "two dots: %s", err);
	unit_check(!tablematch_parse("public.jobs,", &p, err, sizeof(err)) && strstr(err, "empty pattern"),
			   "empty pattern: %s", err);
	unit_check(!tablematch_parse("\"Public\".jobs", &p, err, sizeof(err)) && strstr(err, "quoted"),
			   "quotes: %s", err);
	unit_check(!tablematch_parse(".jobs", &p, err, sizeof(err)) && strstr(err, "empty schema"),
			   "empty part: %s", err);
}

/* the second sample, rpk's replica identity byte replaced by ident */
static const char *
run_keys(char ident)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoDecoder	dec;
	char		err[256];
	char		msg[256];
	char	   *p;
	int			i;

	pgo_decoder_init(&dec, &cfg);
	transcript[0] = '\0';
	for (i = 0; pgo_sample_keys[i]; i++)
	{
		snprintf(msg, sizeof(msg), "%s", pgo_sample_keys[i]);
		/* "rpk\0" then the identity byte */
		if ((p = strstr(msg, "72706b0064")) != NULL)
		{
			char		next = p[10];

			snprintf(p + 8, 3, "%02x", (unsigned int) ident);
			p[10] = next;
		}
		if (feed(&dec, msg, err, sizeof(err)) != 0)
			out("ERROR: %s", err);
	}
	pgo_decoder_free(&dec);
	tablematch_free(&cfg.tables);
	return transcript;
}

/* jobs' Relation and row with the namespace "public" replaced by "wal2queue" */
static void
test_extension_schema(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoConfig	sel = config("wal2queue.*", NULL, NULL);
	PgoDecoder	dec;
	char		rel[1024];
	char		err[256];
	int			pass;

	/* 'R', relid, "wal2queue\0", "jobs\0", then the rest of the sample's */
	snprintf(rel, sizeof(rel), "520000400077616c32717565756500%s", pgo_sample[1] + 24);
	for (pass = 0; pass < 2; pass++)
	{
		pgo_decoder_init(&dec, pass == 0 ? &cfg : &sel);
		transcript[0] = '\0';
		feed(&dec, pgo_sample[0], err, sizeof(err));
		if (feed(&dec, rel, err, sizeof(err)) != 0)
			out("ERROR: %s", err);
		feed(&dec, pgo_sample[2], err, sizeof(err));
		if (pass == 0)
			unit_check_str(transcript, "", "without --tables, schema wal2queue (the extension's) is left out");
		else
			unit_check(strstr(transcript, "J0 wal2queue.jobs key=1 wal2queue.jobs(") != NULL,
					   "--tables can select schema wal2queue: %s", transcript);
		pgo_decoder_free(&dec);
	}
	tablematch_free(&cfg.tables);
	tablematch_free(&sel.tables);
}

static void
test_keys(void)
{
	const char *t;

	t = run_keys('d');
	unit_check(strstr(t, "J0 public.dpk public.dpk") != NULL,
			   "a deferrable primary key is not flagged: no key");
	unit_check(strstr(t, "J1 public.rpk key=[\"1\",\"3\"] ") != NULL,
			   "REPLICA IDENTITY DEFAULT: the flagged columns in table order: %s", t);
	unit_check(strstr(t, "J0 public.comp key=[\"8\",\"q\\\"\\\\\\\\\\t\"] ") != NULL,
			   "a composite key is a JSON array escaped as escape_json: %s", t);
	t = run_keys('i');
	unit_check(strstr(t, "J1 public.rpk public.rpk") != NULL && strstr(t, "rpk key=") == NULL,
			   "REPLICA IDENTITY USING INDEX: the flags are no key (the plugin's is the primary key or none): %s", t);
	t = run_keys('f');
	unit_check(strstr(t, "J1 public.rpk public.rpk") != NULL && strstr(t, "rpk key=") == NULL,
			   "REPLICA IDENTITY FULL: no key: %s", t);
	t = run_keys('n');
	unit_check(strstr(t, "J1 public.rpk public.rpk") != NULL && strstr(t, "rpk key=") == NULL,
			   "REPLICA IDENTITY NOTHING: no key: %s", t);
}

static void
test_options(void)
{
	PgoConfig	cfg = {"My \"pub\"", {0}, NULL, NULL, NULL};
	char		buf[64];
	const char *opts[16];

	pgo_plugin_options(&cfg, buf, sizeof(buf), opts);
	unit_check(strcmp(opts[0], "proto_version") == 0 && strcmp(opts[1], "1") == 0 &&
			   strcmp(opts[2], "publication_names") == 0 &&
			   strcmp(opts[3], "\"My \"\"pub\"\"\"") == 0 &&
			   strcmp(opts[4], "messages") == 0 && strcmp(opts[5], "true") == 0 &&
			   opts[6] == NULL,
			   "START_REPLICATION options: proto_version 1, the publication quoted, messages on");
}

/* a transactional 'M' message with prefix and content, as pgoutput sends it */
static int
feed_message(PgoDecoder *dec, const char *prefix, const char *content)
{
	unsigned char buf[512];
	size_t		n = 0;
	size_t		plen = strlen(prefix);
	size_t		clen = strlen(content);
	char		err[256];

	buf[n++] = 'M';
	buf[n++] = 1;
	memset(buf + n, 0, 8);
	n += 8;
	memcpy(buf + n, prefix, plen + 1);
	n += plen + 1;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = (unsigned char) (clen >> 8);
	buf[n++] = (unsigned char) clen;
	memcpy(buf + n, content, clen);
	n += clen;
	return pgo_decode(dec, (const char *) buf, n, &handlers, NULL, err, sizeof(err));
}

/*
 * send()'s signed messages (message_sign.h): while PUBLIC may emit
 * messages, one whose MAC verifies with the key its prefix names is a job
 * (the key id and MAC stripped, as the plugin does), any other is ignored
 * and counted.  The key and MAC are an independent computation's (Python's
 * hmac module) for xid 729 (epoch 0), the sample's first transaction.
 */
#define SIGN_KEY "48529508f0fd46f88de0961e289fc8babed277bbbdbf4d7380bcd3a0b8365a6e" \
	"0c5f8805c1714fd3aaeb2ef418e5aac2"
#define SIGN_MAC "745a6f337db923c3014f0cb63a8c141eef7f31132c41324c90a227eea18526b3"
#define OTHER_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* keys 3 (SIGN_KEY) and, when revoked3 >= 0, 5; read in snapshot snap */
static void
give_keys(PgoDecoder *dec, MessageKeyState state, const char *snap, int revoked3, bool with5)
{
	MessageKeys keys;
	char		err[256];

	memset(&keys, 0, sizeof(keys));
	keys.state = state;
	if (!message_keys_add(&keys, 3, SIGN_KEY, revoked3 > 0, err, sizeof(err)) ||
		(with5 && !message_keys_add(&keys, 5, OTHER_KEY, false, err, sizeof(err))) ||
		!message_keys_set_snapshot(&keys, snap, err, sizeof(err)))
		unit_check(false, "keys: %s", err);
	pgo_decoder_take_keys(dec, &keys);
}

static void
test_sign_helpers(void)
{
	MessageKeys keys;
	MessageKey	key;
	char		err[256];
	char		mac[MESSAGE_SIGN_MAC_HEX + 1];
	FrameBytes	rest = {":emails#k1", 10};
	FrameBytes	payload = {"hello", 5};
	int64_t		id = 0;

	memset(&keys, 0, sizeof(keys));
	unit_check(message_keys_add(&keys, 3, SIGN_KEY, false, err, sizeof(err)) &&
			   keys.nkeys == 1 && keys.keys[0].len == 48, "a key of 48 bytes from its hex");
	key = keys.keys[0];
	message_sign_mac(&key, 729, rest, payload, mac);
	unit_check_str(mac, SIGN_MAC, "HMAC-SHA256(key, xid 729 as 8 bytes || "
				   "\"wal2queue:emails#k1\" || 0x00 || \"hello\")");
	message_sign_mac(&key, (UINT64_C(1) << 32) + 729, rest, payload, mac);
	unit_check(strcmp(mac, SIGN_MAC) != 0, "xid 729 of epoch 1 signs otherwise (all 64 bits)");
	unit_check(!message_keys_add(&keys, 4, "abcd", false, err, sizeof(err)) &&
			   strstr(err, "2 bytes") != NULL, "a key of 2 bytes is refused: %s", err);
	unit_check(!message_keys_add(&keys, 4, SIGN_KEY "zz", false, err, sizeof(err)),
			   "a key with a non-hex digit is refused: %s", err);
	unit_check(!message_keys_add(&keys, 2, SIGN_KEY, false, err, sizeof(err)) && keys.nkeys == 1,
			   "ids out of order are refused: %s", err);
	unit_check(message_keys_find(&keys, 3) != NULL && message_keys_find(&keys, 4) == NULL,
			   "keys are found by id");
	unit_check(message_keys_set_snapshot(&keys, "10:20:12,15", err, sizeof(err)) &&
			   message_keys_saw(&keys, 9) && message_keys_saw(&keys, 11) &&
			   !message_keys_saw(&keys, 12) && !message_keys_saw(&keys, 15) &&
			   message_keys_saw(&keys, 19) && !message_keys_saw(&keys, 20),
			   "a snapshot sees what ended before it: not its xip, not from xmax on");
	unit_check(!message_keys_set_snapshot(&keys, "10:x:", err, sizeof(err)) &&
			   !message_keys_saw(&keys, 9), "a bad snapshot is refused and sees nothing: %s", err);
	message_keys_free(&keys);

	unit_check(message_xid_extend((UINT64_C(1) << 32) + 5, 0xFFFFFFF0u) == 0xFFFFFFF0u &&
			   message_xid_extend(0xFFFFFFF0u, 5) == (UINT64_C(1) << 32) + 5 &&
			   message_xid_extend((UINT64_C(7) << 32) + 100, 90) == (UINT64_C(7) << 32) + 90 &&
			   message_xid_extend(0, 729) == 729,
			   "a 32-bit xid is the full xid nearest to the latest one known, across an epoch");
	unit_check(message_sign_parse_id("12.x", 4, &id) == 3 && id == 12 &&
			   message_sign_parse_id("9223372036854775807.", 20, &id) == 20 &&
			   id == INT64_C(9223372036854775807) &&
			   message_sign_parse_id("9999999999999999999.", 20, &id) == 0 &&
			   message_sign_parse_id("12345678901234567890.", 21, &id) == 0 &&
			   message_sign_parse_id("01.", 3, &id) == 0 &&
			   message_sign_parse_id(".", 1, &id) == 0 &&
			   message_sign_parse_id("12", 2, &id) == 0,
			   "a key id: 1 to 19 digits, no leading zero, within a bigint, then a dot");
}

static void
test_signed_messages(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoDecoder	dec;
	char		err[256];
	char		prefix[256];
	int			rc = 0;

	test_sign_helpers();
	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	dec.messages_public = 1;
	give_keys(&dec, MESSAGE_KEY_READ, "700:800:", 0, true);
	rc |= feed(&dec, pgo_sample[0], err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	rc |= feed_message(&dec, "wal2queue:emails#k1", "unsigned");
	rc |= feed_message(&dec, prefix, "hello, changed");
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:other#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	prefix[12] = prefix[12] == '0' ? '1' : '0';
	rc |= feed_message(&dec, prefix, "hello");
	snprintf(prefix, sizeof(prefix), "wal2queue!5.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	snprintf(prefix, sizeof(prefix), "wal2queue!4.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	unit_check_str(transcript, "B 729 0/154C0D8 1795998022600191|J0 emails key=k1 payload=hello|",
				   "PUBLIC may emit: the signed message is a job (target and key without the "
				   "key id and MAC); unsigned, another payload, another target, a wrong MAC, "
				   "another key's id, an id no key has (in a snapshot that saw the "
				   "transaction) are not");
	unit_check(rc == 0 && dec.messages_ignored == 6, "the six are counted as ignored (%llu)",
			   (unsigned long long) dec.messages_ignored);
	pgo_decoder_free(&dec);

	/* the same MAC in another transaction (xid 730): ignored */
	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	dec.messages_public = 1;
	give_keys(&dec, MESSAGE_KEY_READ, "700:800:", 0, false);
	rc = feed(&dec, pgo_sample[9], err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	unit_check(rc == 0 && transcript[0] == '\0' && dec.messages_ignored == 1,
			   "a MAC copied into another transaction is no job: %s", transcript);
	/* without the key (the bridge may not read it): ignored */
	pgo_decoder_reset(&dec);
	dec.messages_public = 1;
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	rc |= feed_message(&dec, prefix, "hello");
	unit_check(rc == 0 && transcript[0] == '\0' && dec.messages_ignored == 2,
			   "without the key a signed message is no job");
	/* PUBLIC may not emit: signed (verified or not) and unsigned are jobs */
	dec.messages_public = 0;
	rc = feed_message(&dec, prefix, "hello");
	rc |= feed_message(&dec, "wal2queue:emails", "unsigned");
	unit_check_str(transcript, "B 729 0/154C0D8 1795998022600191|J0 emails key=k1 payload=hello|"
				   "J1 emails payload=unsigned|",
				   "PUBLIC may not emit: the privilege decides, the MAC is stripped");
	/* malformed signatures: not a wal2queue prefix at all (not counted) */
	transcript[0] = '\0';
	rc |= feed_message(&dec, "wal2queue!abc:emails", "short");
	rc |= feed_message(&dec, "wal2queue!", "none");
	snprintf(prefix, sizeof(prefix), "wal2queue!%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "no key id");
	snprintf(prefix, sizeof(prefix), "wal2queue!03.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "leading zero");
	unit_check(rc == 0 && transcript[0] == '\0' && dec.messages_ignored == 2,
			   "a malformed signature is another prefix: no job, not counted");
	pgo_decoder_free(&dec);

}

/* a key read before the transaction, and the next xid epoch (test/t/454) */
static void
test_signed_rotation(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoDecoder	dec;
	char		err[256];
	char		prefix[256];
	int			rc = 0;

	/*
	 * a key read before the transaction was seen: the decoder asks for the
	 * keys again, and decodes the same message with them (rotation)
	 */
	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	dec.messages_public = 1;
	give_keys(&dec, MESSAGE_KEY_READ, "700:720:", 0, false);
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "wal2queue!5.%s:emails#k1", SIGN_MAC);
	unit_check(feed_message(&dec, prefix, "hello") == PGO_NEED_KEYS &&
			   strstr(transcript, "J0") == NULL && dec.messages_ignored == 0,
			   "an unknown key id, keys read before the transaction: PGO_NEED_KEYS");
	give_keys(&dec, MESSAGE_KEY_UNKNOWN, "700:729:", 0, false);
	unit_check(feed_message(&dec, prefix, "hello") == PGO_NEED_KEYS,
			   "keys read while the transaction still ran: asked again");
	give_keys(&dec, MESSAGE_KEY_UNKNOWN, "700:800:", 0, false);
	unit_check(feed_message(&dec, prefix, "hello") == FRAME_OK && dec.messages_ignored == 1 &&
			   dec.msg_keys.state == MESSAGE_KEY_READ,
			   "still unknown in a snapshot that saw it: not ours, ignored (the state kept)");
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	give_keys(&dec, MESSAGE_KEY_UNKNOWN, "700:800:", 1, false);
	unit_check(feed_message(&dec, prefix, "hello") == FRAME_OK && dec.messages_ignored == 2 &&
			   dec.messages_revoked == 1 && strstr(transcript, "J0") == NULL,
			   "a revoked key: no job, counted as revoked");
	give_keys(&dec, MESSAGE_KEY_UNTRUSTED, "700:800:", 0, false);
	unit_check(feed_message(&dec, prefix, "hello") == PGO_UNTRUSTED && dec.key_id == 3,
			   "a key of an untrusted table: not judged (PGO_UNTRUSTED, key 3)");
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", "00000000000000000000000000000000"
			 "00000000000000000000000000000000");
	unit_check(feed_message(&dec, prefix, "hello") == FRAME_OK && dec.messages_ignored == 3,
			   "... but a MAC no key of it makes is a forgery: ignored");
	pgo_decoder_free(&dec);

	/* the same xid of the next epoch (test/t/454): the MAC does not verify */
	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	dec.messages_public = 1;
	give_keys(&dec, MESSAGE_KEY_READ, "4294967996:4294968096:", 0, false);
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	rc |= feed_message(&dec, prefix, "hello");
	unit_check(rc == 0 && dec.txn_xid8 == (UINT64_C(1) << 32) + 729 &&
			   strstr(transcript, "J0") == NULL && dec.messages_ignored == 1,
			   "xid 729 in epoch 1 is 2^32 + 729: epoch 0's MAC is no job there");
	pgo_decoder_free(&dec);
	tablematch_free(&cfg.tables);
}

/* raw bytes into the decoder */
static int
feed_raw(PgoDecoder *dec, const void *buf, size_t n)
{
	char		err[256];

	return pgo_decode(dec, (const char *) buf, n, &handlers, NULL, err, sizeof(err));
}

/*
 * A WIN1252 database (the walsender streams in its encoding, stream.c):
 * relation and column names, values and a message's prefix as UTF-8, with
 * U+FFFD for 0x81 (no UTF-8 equivalent); a message's content as it is;
 * a signed prefix verified as send() signed it, converted to UTF-8.
 */
static void
test_encoding(void)
{
	static const unsigned char rel[] = {'R', 0, 0, 0x40, 0, 'p', 'u', 'b', 'l', 'i', 'c', 0,
		'c', 'a', 'f', 0xe9, 0, 'd', 0, 1, 1, 'n', 0xe9, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char ins[] = {'I', 0, 0, 0x40, 0, 'N', 0, 1, 't', 0, 0, 0, 3,
	'x', 0x81, 'y'};
	PgoDecoder	dec;
	MessageKeys keys;
	MessageKey	key;
	FrameBytes	rest = {":caf\xc3\xa9", 6};
	FrameBytes	payload = {"a\xe9", 2};
	char		mac[MESSAGE_SIGN_MAC_HEX + 1];
	char		prefix[256];
	char		err[256];
	int			rc;

	transcript[0] = '\0';
	pgo_decoder_init(&dec, NULL);
	dec.messages_public = 0;
	unit_check(pgo_decoder_set_encoding(&dec, "WIN1252", err, sizeof(err)) == 0,
			   "the decoder takes WIN1252");
	rc = feed(&dec, pgo_sample[0], err, sizeof(err));
	rc |= feed_raw(&dec, rel, sizeof(rel));
	rc |= feed_raw(&dec, ins, sizeof(ins));
	rc |= feed_message(&dec, "wal2queue:x\x81\xe9", "c\x81");
	unit_check(rc == 0 && strstr(transcript, "caf\xc3\xa9(n\xc3\xa9:") != NULL &&
			   strstr(transcript, "=x\xef\xbf\xbdy)|") != NULL,
			   "WIN1252 names and values arrive as UTF-8, 0x81 as U+FFFD");
	unit_check(strstr(transcript, "J1 x\xef\xbf\xbd\xc3\xa9 payload=c\x81|") != NULL,
			   "a message's prefix as UTF-8 (U+FFFD for 0x81), its content as it is");

	/* signed: the MAC is over the prefix as UTF-8; the walsender sends WIN1252 */
	memset(&keys, 0, sizeof(keys));
	if (!message_keys_add(&keys, 3, SIGN_KEY, false, err, sizeof(err)))
		unit_check(false, "keys: %s", err);
	key = keys.keys[0];
	message_sign_mac(&key, 729, rest, payload, mac);
	message_keys_free(&keys);
	dec.messages_public = 1;
	give_keys(&dec, MESSAGE_KEY_READ, "700:800:", 0, false);
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:caf\xe9", mac);
	rc = feed_message(&dec, prefix, "a\xe9");
	unit_check(rc == 0 && strstr(transcript, "J2 caf\xc3\xa9 payload=a\xe9|") != NULL &&
			   dec.messages_ignored == 0,
			   "a signed WIN1252 prefix verifies as send() signed it (in UTF-8)");
	pgo_decoder_free(&dec);

	pgo_decoder_init(&dec, NULL);
	unit_check(pgo_decoder_set_encoding(&dec, "MULE_INTERNAL", err, sizeof(err)) != 0 &&
			   strstr(err, "MULE_INTERNAL") != NULL, "MULE_INTERNAL is refused: %s", err);
	pgo_decoder_free(&dec);
}

/*
 * a cached key under the message's id that does not verify its MAC, read
 * before the transaction (a reinstall made a new key under the id:
 * test/t/471): asked again, then judged; keys the bridge's role may not
 * read: not judged (PGO_KEYS_DENIED, test/t/473)
 */
static void
test_signed_reread(void)
{
	PgoConfig	cfg = config(NULL, NULL, NULL);
	PgoDecoder	dec;
	MessageKeys keys;
	char		err[256];
	char		prefix[256];

	transcript[0] = '\0';
	pgo_decoder_init(&dec, &cfg);
	dec.messages_public = 1;
	memset(&keys, 0, sizeof(keys));
	keys.state = MESSAGE_KEY_READ;
	if (!message_keys_add(&keys, 3, OTHER_KEY, false, err, sizeof(err)) ||
		!message_keys_set_snapshot(&keys, "700:720:", err, sizeof(err)))
		unit_check(false, "keys: %s", err);
	pgo_decoder_take_keys(&dec, &keys);
	unit_check(feed(&dec, pgo_sample[0], err, sizeof(err)) == 0, "begin: %s", err);
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", SIGN_MAC);
	unit_check(feed_message(&dec, prefix, "hello") == PGO_NEED_KEYS && dec.messages_ignored == 0 &&
			   strstr(transcript, "J0") == NULL,
			   "a cached key that does not verify, read before the transaction: PGO_NEED_KEYS");
	give_keys(&dec, MESSAGE_KEY_UNKNOWN, "700:800:", 0, false);
	unit_check(feed_message(&dec, prefix, "hello") == FRAME_OK && strstr(transcript, "J0") != NULL,
			   "the keys read again verify it: a job (%s)", transcript);
	snprintf(prefix, sizeof(prefix), "wal2queue!3.%s:emails#k1", "00000000000000000000000000000000"
			 "00000000000000000000000000000000");
	unit_check(feed_message(&dec, prefix, "hello") == FRAME_OK && dec.messages_ignored == 1,
			   "a MAC that does not verify in a snapshot that saw the transaction: a forgery");
	give_keys(&dec, MESSAGE_KEY_DENIED, "700:800:", 0, false);
	unit_check(feed_message(&dec, prefix, "hello") == PGO_KEYS_DENIED && dec.key_id == 3 &&
			   dec.messages_ignored == 1,
			   "keys the bridge's role may not read: not judged (PGO_KEYS_DENIED, key 3)");
	unit_check(feed_message(&dec, "wal2queue:emails", "unsigned") == FRAME_OK &&
			   dec.messages_ignored == 2, "... an unsigned message is still ignored");
	pgo_decoder_free(&dec);
	tablematch_free(&cfg.tables);
}

int
main(void)
{
	test_sample();
	test_messages_public();
	test_signed_messages();
	test_signed_rotation();
	test_signed_reread();
	test_selection();
	test_identity();
	test_end_lsn();
	test_reset();
	test_malformed();
	test_tablematch();
	test_keys();
	test_extension_schema();
	test_options();
	test_encoding();
	return unit_done();
}
