/*-------------------------------------------------------------------------
 *
 * sink_redis.c
 *		Redis Streams sink: every PostgreSQL transaction becomes one
 *		MULTI / XADD ... / EXEC block, and many blocks are in flight at once.
 *
 * Entry IDs are <commit LSN>-<seq>, so a replay after a reconnect is
 * harmless: Redis refuses an ID that is not above the stream's top item, and
 * the sink then checks that the refused entry really is its own before it
 * counts it as delivered.  It is when an entry with that exact ID exists
 * (XRANGE), when the ID is at or below the stream's max-deleted-entry-id
 * (XDEL), or when it lies below the stream's first retained entry and the
 * stream has lost entries from its head (entries-added > length: MAXLEN or
 * XTRIM trimming, which does not move max-deleted-entry-id).  Anything else
 * in the way is a foreign writer, which is fatal.  The one case this cannot
 * tell apart: every entry of ours was removed and another writer's entries,
 * all above our IDs, are what is left.
 *
 * The connection is set up synchronously (AUTH, SELECT, PING, each bounded
 * by a 5 s timeout) and then switched to non-blocking mode.  Every command
 * appended gets exactly one reply, in order, so a ring of command records
 * (kind and size) says what each reply answers: MULTI, QUEUED (an XADD or
 * XGROUP inside MULTI) and EXEC replies belong to the oldest transaction
 * whose EXEC reply is still due, XRANGE and XINFO replies to the oldest
 * verification still due.
 *
 * Consumer groups: XGROUP CREATE <key> <group> 0 MKSTREAM is queued inside
 * the MULTI of the first transaction that touches a key on this connection,
 * just before that key's first XADD (begin() cannot know the keys, and
 * sending it outside would mean holding MULTI back).  When the group exists
 * already, its element of the EXEC array is a BUSYGROUP error, which is
 * accepted; any other error is fatal.
 *
 * Per transaction in flight the sink keeps its ticket, commit LSN and
 * counts, the distinct stream keys it touched (interned) and runs of
 * consecutive seqs per key: all that is needed to name the stream and
 * entry ID of every element of the EXEC reply.  A huge single-target
 * transaction is one run.
 *
 * EXEC replies are read as they stream in.  hiredis builds every reply as a
 * tree of redisReply, which for a million-row transaction is ~100 MB, so the
 * reader's object functions are replaced: other replies are built as usual,
 * but the array that answers an EXEC is a bare redisReply without elements,
 * each of its elements is checked as soon as it is parsed and is then
 * dropped (a shared static placeholder stands in for it and for anything
 * nested in it).  The reader itself discards consumed input as it goes, also
 * in the middle of a reply, so memory does not grow with the transaction.
 *
 * pending_bytes: the size of the commands appended whose reply has not been
 * read yet, unsent ones included.  An XADD counts until its QUEUED reply,
 * so a transaction larger than the bridge's backpressure limit still flows.
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "sink.h"

#define CONNECT_TIMEOUT_S	5
#define FLUSH_THRESHOLD		(256 * 1024)	/* job() writes out beyond this */
#define CHECK_CHUNK			1024	/* entries verified per XRANGE */
#define MAX_READS_PER_POLL	256
#define RING_KEEP			65536	/* command records kept when idle */
#define ENTRY_ID_LEN		48
#define DUP_ERROR			"equal or smaller than the target stream top item"

/* what a command's reply answers */
typedef enum CmdKind
{
	CMD_MULTI,
	CMD_QUEUED,					/* XADD or XGROUP inside MULTI */
	CMD_EXEC,
	CMD_XRANGE,
	CMD_XINFO
} CmdKind;

typedef struct CmdRec
{
	size_t		size;			/* bytes of the command */
	CmdKind		kind;
} CmdRec;

/* interned byte strings: an arena, offsets and an open-addressing hash */
typedef struct StrTab
{
	char	   *arena;
	size_t		arena_cap;
	size_t	   *offs;			/* string i is arena[offs[i] .. offs[i + 1]) */
	uint32_t	n;
	uint32_t	offs_cap;
	uint32_t   *slots;			/* string index + 1; 0 is empty */
	uint32_t	nslots;			/* a power of two */
} StrTab;

/* commands of a transaction inside its MULTI, in order */
typedef struct TxnRun
{
	uint32_t	key;			/* index in the transaction's keys */
	uint32_t	first_seq;
	uint32_t	n;				/* XADDs of seqs first_seq .. first_seq + n - 1 */
	bool		group;			/* an XGROUP CREATE (n == 1) instead */
} TxnRun;

/* a transaction in flight */
typedef struct RTxn
{
	struct RTxn *prev;
	struct RTxn *next;
	LedgerTicket ticket;
	uint64_t	lsn;			/* commit LSN: the ms part of its entry IDs */
	uint32_t	njobs;			/* XADDs queued */
	uint32_t	ncmds;			/* commands inside MULTI */
	uint32_t	nqueued;		/* replies to those read so far */
	uint32_t	checks;			/* verifications still due */
	StrTab		keys;
	TxnRun	   *runs;
	uint32_t	nruns;
	uint32_t	runs_cap;
} RTxn;

/* a verification of refused entries lsn-lo .. lsn-hi of one stream */
typedef struct RCheck
{
	struct RCheck *next;
	RTxn	   *txn;
	uint32_t	key;
	uint32_t	lo;
	uint32_t	hi;
	uint32_t	missing;		/* XINFO phase: highest seq not found */
	bool		info;			/* XINFO STREAM sent (else XRANGE) */
} RCheck;

/* refused entries collected while walking an EXEC reply */
typedef struct DupChunk
{
	bool		open;
	uint32_t	key;
	uint32_t	lo;
	uint32_t	hi;
} DupChunk;

/* parts of XINFO STREAM */
typedef struct StreamId
{
	uint64_t	ms;
	uint64_t	seq;
} StreamId;

typedef struct StreamInfo
{
	long long	length;
	long long	entries_added;	/* -1 before Redis 7 */
	StreamId	last;
	StreamId	max_deleted;
	StreamId	first;
	char		last_str[ENTRY_ID_LEN];
} StreamInfo;

/* an EXEC reply being read, element by element */
typedef struct ExecRead
{
	redisReply *root;			/* the array handed to hiredis; NULL if none */
	RTxn	   *tx;				/* the transaction it answers */
	uint32_t	idx;			/* elements seen */
	uint32_t	run;			/* tx->runs[run] holds element idx ... */
	uint32_t	in_run;			/* ... at this position */
	DupChunk	chunk;			/* refused entries not yet verified */
	int			rc;				/* the first failure, s->err set */
} ExecRead;

typedef struct RedisSink
{
	redisContext *ctx;
	redisReplyObjectFunctions *plain_fns;	/* hiredis's own */
	ExecRead	exec;
	StrTab		groups;			/* keys whose group was created (or queued) */
	RTxn	   *head;			/* transactions in flight, in send order */
	RTxn	   *tail;
	RTxn	   *exec_next;		/* oldest one whose EXEC reply is still due */
	RTxn	   *building;		/* between begin and commit */
	RCheck	   *chk_head;		/* verifications in send order */
	RCheck	   *chk_tail;
	CmdRec	   *ring;			/* commands awaiting their reply */
	size_t		ring_cap;
	size_t		ring_start;
	size_t		ring_len;
	size_t		pending;		/* sum of their sizes */
	const char **argv;			/* scratch for XADD */
	size_t	   *argvlen;
	size_t		argv_cap;
	char	   *keybuf;			/* scratch: prefix + target */
	size_t		keybuf_cap;
	char		maxlen[24];		/* "" when not trimming */
	SinkAckFn	ack;			/* set by poll and drain */
	void	   *ack_arg;
} RedisSink;

static void redis_disconnect(Sink *s);

static int
sink_fail(Sink *s, int rc, const char *fmt,...)
__attribute__((format(printf, 3, 4)));

static int
sink_fail(Sink *s, int rc, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return rc;
}

static int
out_of_memory(Sink *s)
{
	return sink_fail(s, SINK_FATAL, "out of memory");
}

static int
lost_connection(Sink *s)
{
	RedisSink  *rs = s->priv;

	return sink_fail(s, SINK_RETRY, "lost connection to Redis: %s",
					 rs->ctx->errstr[0] ? rs->ctx->errstr : "unknown error");
}

/* errors that go away by themselves (a restart, a failover) */
static int
error_rc(const char *msg)
{
	static const char *const transient[] = {
		"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "CLUSTERDOWN"
	};

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
	{
		size_t		n = strlen(transient[i]);

		if (strncmp(msg, transient[i], n) == 0 &&
			(msg[n] == ' ' || msg[n] == '\0'))
			return SINK_RETRY;
	}
	return SINK_FATAL;
}

static bool
is_auth_error(const char *msg)
{
	return strncmp(msg, "NOAUTH", 6) == 0 || strncmp(msg, "WRONGPASS", 9) == 0;
}

static const char *
reply_text(const redisReply *r)
{
	if ((r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ||
		 r->type == REDIS_REPLY_STRING) && r->str != NULL)
		return r->str;
	if (r->type == REDIS_REPLY_NIL)
		return "nil";
	return r->type == REDIS_REPLY_ARRAY ? "an array" : "an integer";
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "%X/%X", as PostgreSQL prints an LSN */
static const char *
lsn_str(char *buf, uint64_t lsn)
{
	snprintf(buf, ENTRY_ID_LEN, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
	return buf;
}

static void
entry_id(char *buf, uint64_t lsn, uint64_t seq)
{
	snprintf(buf, ENTRY_ID_LEN, "%" PRIu64 "-%" PRIu64, lsn, seq);
}

/* parse "ms-seq" */
static bool
parse_id(const char *s, size_t len, StreamId *id)
{
	uint64_t	part[2] = {0, 0};
	int			p = 0;
	bool		digits = false;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '-' && p == 0 && digits)
		{
			p = 1;
			digits = false;
		}
		else if (s[i] >= '0' && s[i] <= '9')
		{
			if (part[p] > (UINT64_MAX - 9) / 10)
				return false;
			part[p] = part[p] * 10 + (uint64_t) (s[i] - '0');
			digits = true;
		}
		else
			return false;
	}
	if (!digits)
		return false;
	id->ms = part[0];
	id->seq = part[1];
	return true;
}

static int
id_cmp(StreamId a, StreamId b)
{
	if (a.ms != b.ms)
		return a.ms < b.ms ? -1 : 1;
	if (a.seq != b.seq)
		return a.seq < b.seq ? -1 : 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * interned strings
 * ---------------------------------------------------------------------
 */

static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t	h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static const char *
strtab_get(const StrTab *t, uint32_t i, size_t *len)
{
	*len = t->offs[i + 1] - t->offs[i];
	return t->arena + t->offs[i];
}

static int64_t
strtab_find(const StrTab *t, const char *s, size_t len)
{
	uint32_t	mask = t->nslots - 1;
	uint32_t	j;

	if (t->nslots == 0)
		return -1;
	for (j = hash_bytes(s, len) & mask; t->slots[j] != 0; j = (j + 1) & mask)
	{
		size_t		elen;
		const char *e = strtab_get(t, t->slots[j] - 1, &elen);

		if (elen == len && memcmp(e, s, len) == 0)
			return t->slots[j] - 1;
	}
	return -1;
}

static bool
strtab_rehash(StrTab *t, uint32_t nslots)
{
	uint32_t   *slots = calloc(nslots, sizeof(uint32_t));

	if (slots == NULL)
		return false;
	for (uint32_t i = 0; i < t->n; i++)
	{
		size_t		len;
		const char *s = strtab_get(t, i, &len);
		uint32_t	j = hash_bytes(s, len) & (nslots - 1);

		while (slots[j] != 0)
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return true;
}

/* add a string known to be absent; returns its index, or -1 */
static int64_t
strtab_add(StrTab *t, const char *s, size_t len)
{
	size_t		used;

	if ((t->n + 1) * 2 > t->nslots &&
		!strtab_rehash(t, t->nslots ? t->nslots * 2 : 8))
		return -1;
	if (t->n + 2 > t->offs_cap)
	{
		uint32_t	ncap = t->offs_cap ? t->offs_cap * 2 : 4;
		size_t	   *offs = realloc(t->offs, ncap * sizeof(size_t));

		if (offs == NULL)
			return -1;
		if (t->offs == NULL)
			offs[0] = 0;
		t->offs = offs;
		t->offs_cap = ncap;
	}
	used = t->offs[t->n];
	if (t->arena == NULL || used + len > t->arena_cap)
	{
		size_t		ncap = t->arena_cap ? t->arena_cap * 2 : 64;
		char	   *arena;

		if (ncap < used + len)
			ncap = used + len;
		if ((arena = realloc(t->arena, ncap)) == NULL)
			return -1;
		t->arena = arena;
		t->arena_cap = ncap;
	}
	if (len > 0)
		memcpy(t->arena + used, s, len);
	t->offs[t->n + 1] = used + len;
	t->n++;
	{
		uint32_t	j = hash_bytes(s, len) & (t->nslots - 1);

		while (t->slots[j] != 0)
			j = (j + 1) & (t->nslots - 1);
		t->slots[j] = t->n;
	}
	return t->n - 1;
}

static void
strtab_free(StrTab *t)
{
	free(t->arena);
	free(t->offs);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------------
 * commands and their records
 * ---------------------------------------------------------------------
 */

static size_t
dec_digits(size_t v)
{
	size_t		d = 1;

	while (v >= 10)
	{
		v /= 10;
		d++;
	}
	return d;
}

/* size of a command in the Redis protocol, as hiredis formats it */
static size_t
proto_len(int argc, const size_t *argvlen)
{
	size_t		len = 1 + dec_digits((size_t) argc) + 2;

	for (int i = 0; i < argc; i++)
		len += 1 + dec_digits(argvlen[i]) + 2 + argvlen[i] + 2;
	return len;
}

static bool
ring_push(RedisSink *rs, size_t size, CmdKind kind)
{
	if (rs->ring_len == rs->ring_cap)
	{
		size_t		ncap = rs->ring_cap ? rs->ring_cap * 2 : 256;
		CmdRec	   *ring = malloc(ncap * sizeof(CmdRec));

		if (ring == NULL)
			return false;
		for (size_t i = 0; i < rs->ring_len; i++)
			ring[i] = rs->ring[(rs->ring_start + i) % rs->ring_cap];
		free(rs->ring);
		rs->ring = ring;
		rs->ring_cap = ncap;
		rs->ring_start = 0;
	}
	rs->ring[(rs->ring_start + rs->ring_len) % rs->ring_cap].size = size;
	rs->ring[(rs->ring_start + rs->ring_len) % rs->ring_cap].kind = kind;
	rs->ring_len++;
	return true;
}

static CmdRec
ring_pop(RedisSink *rs)
{
	CmdRec		c = rs->ring[rs->ring_start];

	rs->ring_start = (rs->ring_start + 1) % rs->ring_cap;
	rs->ring_len--;
	rs->pending -= c.size;
	if (rs->ring_len == 0 && rs->ring_cap > RING_KEEP)
	{
		/* give back the memory of a huge transaction */
		free(rs->ring);
		rs->ring = NULL;
		rs->ring_cap = 0;
	}
	if (rs->ring_len == 0)
		rs->ring_start = 0;
	return c;
}

static int
append_cmd(Sink *s, int argc, const char **argv, const size_t *argvlen,
		   CmdKind kind)
{
	RedisSink  *rs = s->priv;
	size_t		size = proto_len(argc, argvlen);

	if (!ring_push(rs, size, kind))
		return out_of_memory(s);
	if (redisAppendCommandArgv(rs->ctx, argc, argv, argvlen) != REDIS_OK)
	{
		rs->ring_len--;
		return sink_fail(s, SINK_FATAL, "could not queue a Redis command: %s",
						 rs->ctx->errstr);
	}
	rs->pending += size;
	return SINK_OK;
}

/* append a command of NUL-terminated strings */
static int
append_strs(Sink *s, int argc, const char **argv, CmdKind kind)
{
	size_t		argvlen[8];

	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	return append_cmd(s, argc, argv, argvlen, kind);
}

/* write what the socket takes now */
static int
flush_output(Sink *s)
{
	RedisSink  *rs = s->priv;
	int			done = 0;

	while (!done)
	{
		size_t		before = sdslen(rs->ctx->obuf);

		if (redisBufferWrite(rs->ctx, &done) != REDIS_OK)
			return lost_connection(s);
		if (!done && sdslen(rs->ctx->obuf) == before)
			break;				/* the socket is full */
	}
	return SINK_OK;
}

/* ---------------------------------------------------------------------
 * transactions in flight
 * ---------------------------------------------------------------------
 */

static void
txn_free(RTxn *tx)
{
	strtab_free(&tx->keys);
	free(tx->runs);
	free(tx);
}

static void
txn_unlink(RedisSink *rs, RTxn *tx)
{
	if (tx->prev)
		tx->prev->next = tx->next;
	else
		rs->head = tx->next;
	if (tx->next)
		tx->next->prev = tx->prev;
	else
		rs->tail = tx->prev;
}

static bool
txn_add_run(RTxn *tx, uint32_t key, uint32_t seq, bool group)
{
	TxnRun	   *last = tx->nruns ? &tx->runs[tx->nruns - 1] : NULL;

	if (!group && last != NULL && !last->group && last->key == key &&
		last->first_seq + last->n == seq && last->n < UINT32_MAX)
	{
		last->n++;
		return true;
	}
	if (tx->nruns == tx->runs_cap)
	{
		uint32_t	ncap = tx->runs_cap ? tx->runs_cap * 2 : 4;
		TxnRun	   *runs = realloc(tx->runs, ncap * sizeof(TxnRun));

		if (runs == NULL)
			return false;
		tx->runs = runs;
		tx->runs_cap = ncap;
	}
	tx->runs[tx->nruns].key = key;
	tx->runs[tx->nruns].first_seq = seq;
	tx->runs[tx->nruns].n = 1;
	tx->runs[tx->nruns].group = group;
	tx->nruns++;
	return true;
}

/* the run holding command idx (0-based inside MULTI), and its seq */
static const TxnRun *
txn_locate(const RTxn *tx, uint32_t idx, uint32_t *seq)
{
	for (uint32_t r = 0; r < tx->nruns; r++)
	{
		if (idx < tx->runs[r].n)
		{
			*seq = tx->runs[r].first_seq + idx;
			return &tx->runs[r];
		}
		idx -= tx->runs[r].n;
	}
	return NULL;
}

/* all jobs of tx are stored: report and forget it */
static void
txn_complete(Sink *s, RTxn *tx)
{
	RedisSink  *rs = s->priv;

	if (rs->ack != NULL)
		rs->ack(rs->ack_arg, tx->ticket, tx->njobs);
	txn_unlink(rs, tx);
	txn_free(tx);
}

/* the error of command idx of tx */
static int
fail_command(Sink *s, int rc, const RTxn *tx, uint32_t idx, const char *msg)
{
	uint32_t	seq = 0;
	const TxnRun *run = txn_locate(tx, idx, &seq);
	const char *key;
	size_t		keylen;
	char		id[ENTRY_ID_LEN];

	if (run == NULL)
		return sink_fail(s, rc, "Redis rejected the transaction with commit LSN %s: %s",
						 lsn_str(id, tx->lsn), msg);
	key = strtab_get(&tx->keys, run->key, &keylen);
	if (run->group)
		return sink_fail(s, rc, "could not create consumer group \"%s\" on stream \"%.*s\": %s",
						 s->cfg->redis_group, (int) keylen, key, msg);
	entry_id(id, tx->lsn, seq);
	return sink_fail(s, rc, "could not add entry %s to stream \"%.*s\": %s",
					 id, (int) keylen, key, msg);
}

/* ---------------------------------------------------------------------
 * verifying refused entries
 * ---------------------------------------------------------------------
 */

static void
check_push(RedisSink *rs, RCheck *c)
{
	c->next = NULL;
	if (rs->chk_tail)
		rs->chk_tail->next = c;
	else
		rs->chk_head = c;
	rs->chk_tail = c;
}

static RCheck *
check_pop(RedisSink *rs)
{
	RCheck	   *c = rs->chk_head;

	if (c != NULL)
	{
		rs->chk_head = c->next;
		if (rs->chk_head == NULL)
			rs->chk_tail = NULL;
	}
	return c;
}

/* one verification of tx is over */
static void
check_done(Sink *s, RCheck *c)
{
	RTxn	   *tx = c->txn;

	free(c);
	if (--tx->checks == 0)
		txn_complete(s, tx);
}

/* XRANGE key lsn-lo lsn-hi COUNT n */
static int
send_xrange(Sink *s, RTxn *tx, const DupChunk *chunk)
{
	RedisSink  *rs = s->priv;
	RCheck	   *c = calloc(1, sizeof(RCheck));
	char		lo[ENTRY_ID_LEN];
	char		hi[ENTRY_ID_LEN];
	char		count[16];
	const char *argv[6];
	size_t		argvlen[6];
	int			rc;

	if (c == NULL)
		return out_of_memory(s);
	c->txn = tx;
	c->key = chunk->key;
	c->lo = chunk->lo;
	c->hi = chunk->hi;
	entry_id(lo, tx->lsn, chunk->lo);
	entry_id(hi, tx->lsn, chunk->hi);
	snprintf(count, sizeof(count), "%" PRIu32, chunk->hi - chunk->lo + 1);
	argv[0] = "XRANGE";
	argv[1] = strtab_get(&tx->keys, chunk->key, &argvlen[1]);
	argv[2] = lo;
	argv[3] = hi;
	argv[4] = "COUNT";
	argv[5] = count;
	for (int i = 0; i < 6; i++)
		if (i != 1)
			argvlen[i] = strlen(argv[i]);
	if ((rc = append_cmd(s, 6, argv, argvlen, CMD_XRANGE)) != SINK_OK)
	{
		free(c);
		return rc;
	}
	check_push(rs, c);
	tx->checks++;
	return SINK_OK;
}

/* collect refused entry seq of key; consecutive ones share one XRANGE */
static int
add_dup(Sink *s, RTxn *tx, DupChunk *chunk, uint32_t key, uint32_t seq)
{
	int			rc;

	if (chunk->open && chunk->key == key && seq == chunk->hi + 1 &&
		chunk->hi - chunk->lo + 1 < CHECK_CHUNK)
	{
		chunk->hi = seq;
		return SINK_OK;
	}
	if (chunk->open && (rc = send_xrange(s, tx, chunk)) != SINK_OK)
		return rc;
	chunk->open = true;
	chunk->key = key;
	chunk->lo = seq;
	chunk->hi = seq;
	return SINK_OK;
}

static int
on_xrange(Sink *s, RCheck *c, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	uint64_t	seen[CHECK_CHUNK / 64] = {0};
	uint32_t	seq;
	size_t		keylen;
	const char *key = strtab_get(&c->txn->keys, c->key, &keylen);
	const char *argv[3] = {"XINFO", "STREAM", key};
	size_t		argvlen[3] = {5, 6, keylen};
	char		id[ENTRY_ID_LEN];

	if (r->type != REDIS_REPLY_ARRAY)
	{
		entry_id(id, c->txn->lsn, c->lo);
		free(c);
		return sink_fail(s, r->type == REDIS_REPLY_ERROR ? error_rc(r->str) : SINK_FATAL,
						 "could not verify entry %s of stream \"%.*s\": %s",
						 id, (int) keylen, key, reply_text(r));
	}
	for (size_t i = 0; i < r->elements; i++)
	{
		const redisReply *e = r->element[i];
		StreamId	eid;

		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
			e->element[0]->type == REDIS_REPLY_STRING &&
			parse_id(e->element[0]->str, e->element[0]->len, &eid) &&
			eid.ms == c->txn->lsn && eid.seq >= c->lo && eid.seq <= c->hi)
			seen[(eid.seq - c->lo) / 64] |= UINT64_C(1) << ((eid.seq - c->lo) % 64);
	}
	for (seq = c->hi;; seq--)
	{
		if (!(seen[(seq - c->lo) / 64] & (UINT64_C(1) << ((seq - c->lo) % 64))))
			break;
		if (seq == c->lo)
		{
			check_done(s, c);	/* every one is there */
			return SINK_OK;
		}
	}
	/* seq is missing: was it deleted or trimmed? */
	c->info = true;
	c->missing = seq;
	check_push(rs, c);
	return append_cmd(s, 3, argv, argvlen, CMD_XINFO);
}

static void
parse_stream_info(const redisReply *r, StreamInfo *info)
{
	memset(info, 0, sizeof(*info));
	info->entries_added = -1;
	strcpy(info->last_str, "?");
	for (size_t i = 0; i + 1 < r->elements; i += 2)
	{
		const redisReply *k = r->element[i];
		const redisReply *v = r->element[i + 1];
		bool		str = v->type == REDIS_REPLY_STRING;

		if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS)
			continue;
		if (strcmp(k->str, "length") == 0 && v->type == REDIS_REPLY_INTEGER)
			info->length = v->integer;
		else if (strcmp(k->str, "entries-added") == 0 &&
				 v->type == REDIS_REPLY_INTEGER)
			info->entries_added = v->integer;
		else if (strcmp(k->str, "last-generated-id") == 0 && str &&
				 parse_id(v->str, v->len, &info->last))
			snprintf(info->last_str, sizeof(info->last_str), "%s", v->str);
		else if (strcmp(k->str, "max-deleted-entry-id") == 0 && str)
			parse_id(v->str, v->len, &info->max_deleted);
		else if (strcmp(k->str, "first-entry") == 0 &&
				 v->type == REDIS_REPLY_ARRAY && v->elements >= 1 &&
				 v->element[0]->type == REDIS_REPLY_STRING)
			parse_id(v->element[0]->str, v->element[0]->len, &info->first);
	}
}

/* was entry id in the stream once (deleted or trimmed since)? */
static bool
was_removed(const StreamInfo *info, StreamId id)
{
	if (id_cmp(id, info->max_deleted) <= 0)
		return true;
	if (info->entries_added > info->length &&
		(info->length == 0 || id_cmp(id, info->first) < 0))
		return true;
	return false;
}

static int
on_xinfo(Sink *s, RCheck *c, const redisReply *r)
{
	StreamInfo	info;
	StreamId	missing = {c->txn->lsn, c->missing};
	size_t		keylen;
	const char *key = strtab_get(&c->txn->keys, c->key, &keylen);
	char		id[ENTRY_ID_LEN];
	int			rc = SINK_OK;

	entry_id(id, c->txn->lsn, c->missing);
	if (r->type != REDIS_REPLY_ARRAY)
		rc = sink_fail(s, r->type == REDIS_REPLY_ERROR ? error_rc(r->str) : SINK_FATAL,
					   "could not verify entry %s of stream \"%.*s\": %s",
					   id, (int) keylen, key, reply_text(r));
	else
	{
		parse_stream_info(r, &info);
		if (!was_removed(&info, missing))
			rc = sink_fail(s, SINK_FATAL,
						   "stream \"%.*s\" already holds entries up to %s that wal2queue did not write (entry %s); another writer uses this stream",
						   (int) keylen, key, info.last_str, id);
	}
	if (rc != SINK_OK)
		free(c);				/* the transaction stays unacknowledged */
	else
		check_done(s, c);
	return rc;
}

/* ---------------------------------------------------------------------
 * replies
 * ---------------------------------------------------------------------
 */

static int
unexpected_reply(Sink *s, const redisReply *r)
{
	return sink_fail(s, SINK_FATAL, "unexpected reply from Redis: %s",
					 reply_text(r));
}

/* EXEC did not run the transaction */
static int
exec_failed(Sink *s, const RTxn *tx, const redisReply *r)
{
	int			rc = r->type == REDIS_REPLY_ERROR ? error_rc(r->str) : SINK_FATAL;
	const char *msg = r->type == REDIS_REPLY_NIL ?
		"transaction discarded" : reply_text(r);
	uint32_t	idx = 0;

	/* name the first XADD */
	for (uint32_t i = 0; i < tx->nruns && tx->runs[i].group; i++)
		idx++;
	return fail_command(s, rc, tx, idx, msg);
}

/* the text of an element of an EXEC reply, as reply_text gives it */
static void
element_text(char *buf, int type, const char *str, size_t len)
{
	if (type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS ||
		type == REDIS_REPLY_ERROR)
		snprintf(buf, SINK_ERRLEN, "%.*s",
				 (int) (len < SINK_ERRLEN ? len : SINK_ERRLEN - 1), str);
	else
		snprintf(buf, SINK_ERRLEN, "%s", type == REDIS_REPLY_NIL ? "nil" :
				 type == REDIS_REPLY_ARRAY ? "an array" : "an integer");
}

/*
 * The next element of the EXEC reply being read, of a reply type and, for
 * strings, status and errors, with its text: check it against the command
 * it answers.  An XADD gives the entry ID, or for a replayed entry the error
 * that it is not above the stream's top item (verified later); an XGROUP
 * CREATE gives OK or, when the group exists, BUSYGROUP.  The first failure
 * is kept in rs->exec.rc and the rest of the reply is only read.
 */
static void
exec_element(Sink *s, int type, const char *str, size_t len)
{
	ExecRead   *ex = &((RedisSink *) s->priv)->exec;
	RTxn	   *tx = ex->tx;
	uint32_t	idx = ex->idx++;
	const TxnRun *run;
	uint32_t	seq;
	char		msg[SINK_ERRLEN];

	if (ex->rc != SINK_OK)
		return;
	if (ex->run >= tx->nruns)
	{
		ex->rc = sink_fail(s, SINK_FATAL, "unexpected reply to EXEC: more than %" PRIu32 " results",
						   tx->ncmds);
		return;
	}
	run = &tx->runs[ex->run];
	seq = run->first_seq + ex->in_run;
	if (++ex->in_run == run->n)
	{
		ex->run++;
		ex->in_run = 0;
	}
	if (type == REDIS_REPLY_STRING && !run->group)
		return;					/* the ID of the entry added */
	element_text(msg, type, str, len);
	if (run->group)
	{
		if (type == REDIS_REPLY_ERROR && strncmp(msg, "BUSYGROUP", 9) != 0)
			ex->rc = fail_command(s, error_rc(msg), tx, idx, msg);
	}
	else if (type == REDIS_REPLY_ERROR && strstr(msg, DUP_ERROR) != NULL)
		ex->rc = add_dup(s, tx, &ex->chunk, run->key, seq);
	else
		ex->rc = fail_command(s, type == REDIS_REPLY_ERROR ? error_rc(msg) : SINK_FATAL,
							  tx, idx, msg);
}

/* the EXEC reply of the oldest transaction due begins: an array of n */
static void *
exec_start(Sink *s, int n)
{
	RedisSink  *rs = s->priv;
	ExecRead   *ex = &rs->exec;
	redisReply *root = calloc(1, sizeof(redisReply));

	if (root == NULL)
		return NULL;			/* hiredis reports out of memory */
	root->type = REDIS_REPLY_ARRAY; /* with no elements: they are not kept */
	memset(ex, 0, sizeof(*ex));
	ex->root = root;
	ex->tx = rs->exec_next;
	ex->rc = SINK_OK;
	if ((uint32_t) n != ex->tx->ncmds)
		ex->rc = sink_fail(s, SINK_FATAL, "unexpected reply to EXEC: %d results for %" PRIu32 " commands",
						   n, ex->tx->ncmds);
	return root;
}

/* the EXEC reply of tx is read; its elements were checked while it was */
static int
on_exec(Sink *s, RTxn *tx, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	ExecRead	ex = rs->exec;
	int			rc;

	rs->exec_next = tx->next;
	memset(&rs->exec, 0, sizeof(rs->exec));
	if (r->type != REDIS_REPLY_ARRAY)
		return exec_failed(s, tx, r);
	if (r != ex.root || ex.tx != tx)
		return unexpected_reply(s, r);
	if (ex.rc != SINK_OK)
		return ex.rc;
	if (ex.chunk.open && (rc = send_xrange(s, tx, &ex.chunk)) != SINK_OK)
		return rc;
	if (tx->checks == 0)
		txn_complete(s, tx);
	return SINK_OK;
}

static int
dispatch_reply(Sink *s, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	RTxn	   *tx = rs->exec_next;
	CmdRec		cmd;
	RCheck	   *c;

	if (rs->ring_len == 0)
		return unexpected_reply(s, r);
	cmd = ring_pop(rs);
	switch (cmd.kind)
	{
		case CMD_MULTI:
			if (tx == NULL)
				return unexpected_reply(s, r);
			if (r->type == REDIS_REPLY_ERROR)
				return sink_fail(s, error_rc(r->str), "could not start a transaction in Redis: %s",
								 r->str);
			return SINK_OK;
		case CMD_QUEUED:
			if (tx == NULL)
				return unexpected_reply(s, r);
			tx->nqueued++;
			if (r->type == REDIS_REPLY_ERROR)
				return fail_command(s, error_rc(r->str), tx, tx->nqueued - 1, r->str);
			return SINK_OK;
		case CMD_EXEC:
			return tx ? on_exec(s, tx, r) : unexpected_reply(s, r);
		case CMD_XRANGE:
		case CMD_XINFO:
			c = check_pop(rs);
			if (c == NULL || c->info != (cmd.kind == CMD_XINFO))
			{
				free(c);
				return unexpected_reply(s, r);
			}
			return c->info ? on_xinfo(s, c, r) : on_xrange(s, c, r);
	}
	return SINK_OK;
}

/* handle every complete reply hiredis holds */
static int
process_replies(Sink *s)
{
	RedisSink  *rs = s->priv;

	for (;;)
	{
		void	   *reply = NULL;
		int			rc;

		if (redisGetReplyFromReader(rs->ctx, &reply) != REDIS_OK)
			return lost_connection(s);
		if (reply == NULL)
			return SINK_OK;
		rc = dispatch_reply(s, reply);
		freeReplyObject(reply);
		if (rc != SINK_OK)
			return rc;
	}
}

/* ---------------------------------------------------------------------
 * reply objects: EXEC replies are checked as they are parsed, not kept
 * ---------------------------------------------------------------------
 */

/* stands in for every element of an EXEC reply and all nested in one */
static redisReply exec_placeholder = {.type = REDIS_REPLY_NIL};

typedef enum TaskRole
{
	TASK_PLAIN,					/* built as hiredis builds it */
	TASK_EXEC,					/* the array answering an EXEC */
	TASK_ELEMENT,				/* an element of that array */
	TASK_DROPPED				/* nested in such an element */
} TaskRole;

static TaskRole
task_role(const redisReadTask *task, bool array)
{
	RedisSink  *rs = ((Sink *) task->privdata)->priv;

	if (task->parent == NULL)
	{
		/* replies come in order: the oldest command's is being read */
		if (array && rs->exec_next != NULL && rs->ring_len > 0 &&
			rs->ring[rs->ring_start].kind == CMD_EXEC)
			return TASK_EXEC;
		return TASK_PLAIN;
	}
	if (task->parent->obj == &exec_placeholder)
		return TASK_DROPPED;
	if (rs->exec.root != NULL && task->parent->obj == rs->exec.root)
		return TASK_ELEMENT;
	return TASK_PLAIN;
}

static redisReplyObjectFunctions *
plain_fns(const redisReadTask *task)
{
	return ((RedisSink *) ((Sink *) task->privdata)->priv)->plain_fns;
}

static void *
read_string(const redisReadTask *task, char *str, size_t len)
{
	switch (task_role(task, false))
	{
		case TASK_ELEMENT:
			exec_element(task->privdata, task->type, str, len);
			return &exec_placeholder;
		case TASK_DROPPED:
			return &exec_placeholder;
		default:
			return plain_fns(task)->createString(task, str, len);
	}
}

static void *
read_array(const redisReadTask *task, int elements)
{
	switch (task_role(task, true))
	{
		case TASK_EXEC:
			return exec_start(task->privdata, elements);
		case TASK_ELEMENT:
			exec_element(task->privdata, REDIS_REPLY_ARRAY, NULL, 0);
			return &exec_placeholder;
		case TASK_DROPPED:
			return &exec_placeholder;
		default:
			return plain_fns(task)->createArray(task, elements);
	}
}

static void *
read_integer(const redisReadTask *task, long long value)
{
	switch (task_role(task, false))
	{
		case TASK_ELEMENT:
			exec_element(task->privdata, REDIS_REPLY_INTEGER, NULL, 0);
			return &exec_placeholder;
		case TASK_DROPPED:
			return &exec_placeholder;
		default:
			return plain_fns(task)->createInteger(task, value);
	}
}

static void *
read_nil(const redisReadTask *task)
{
	switch (task_role(task, false))
	{
		case TASK_ELEMENT:
			exec_element(task->privdata, REDIS_REPLY_NIL, NULL, 0);
			return &exec_placeholder;
		case TASK_DROPPED:
			return &exec_placeholder;
		default:
			return plain_fns(task)->createNil(task);
	}
}

/* hiredis frees only what it hands out: a reply, or one cut short */
static void
free_object(void *obj)
{
	if (obj != &exec_placeholder)
		freeReplyObject(obj);
}

static redisReplyObjectFunctions reply_fns = {
	read_string, read_array, read_integer, read_nil, free_object
};

/* switch the reader of a connection set up to the functions above */
static void
install_reply_fns(Sink *s)
{
	RedisSink  *rs = s->priv;

	rs->plain_fns = rs->ctx->reader->fn;
	rs->ctx->reader->fn = &reply_fns;
	rs->ctx->reader->privdata = s;
}

/* ---------------------------------------------------------------------
 * connection
 * ---------------------------------------------------------------------
 */

/* run one command synchronously (during the handshake) */
static int
sync_cmd(Sink *s, int argc, const char **argv, redisReply **reply)
{
	RedisSink  *rs = s->priv;
	size_t		argvlen[4];

	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	*reply = redisCommandArgv(rs->ctx, argc, argv, argvlen);
	if (*reply == NULL)
		return lost_connection(s);
	return SINK_OK;
}

/* AUTH, SELECT and PING; a reply error fails with prefix */
static int
handshake_step(Sink *s, int argc, const char **argv, const char *what)
{
	redisReply *r;
	int			rc;

	if ((rc = sync_cmd(s, argc, argv, &r)) != SINK_OK)
		return rc;
	if (r->type == REDIS_REPLY_ERROR)
	{
		if (strcmp(argv[0], "AUTH") == 0 || is_auth_error(r->str))
			rc = sink_fail(s, SINK_FATAL, "authentication to Redis failed: %s",
						   r->str);
		else
			rc = sink_fail(s, strcmp(argv[0], "PING") == 0 ? SINK_RETRY : SINK_FATAL,
						   "%s: %s", what, r->str);
	}
	freeReplyObject(r);
	return rc;
}

static int
handshake(Sink *s)
{
	RedisSink  *rs = s->priv;
	const SinkUrl *u = &s->cfg->url;
	const char *password = u->password;
	struct timeval tv = {CONNECT_TIMEOUT_S, 0};
	char		db[16];
	const char *argv[3];
	int			rc;

	if (password == NULL)
		password = getenv("WAL2QUEUE_REDIS_PASSWORD");
	if (redisSetTimeout(rs->ctx, tv) != REDIS_OK)
		return lost_connection(s);
	if (password != NULL && password[0] != '\0')
	{
		int			argc = 0;

		argv[argc++] = "AUTH";
		if (u->user != NULL && u->user[0] != '\0')
			argv[argc++] = u->user;
		argv[argc++] = password;
		if ((rc = handshake_step(s, argc, argv, "")) != SINK_OK)
			return rc;
	}
	if (u->db != 0)
	{
		char		what[64];

		snprintf(db, sizeof(db), "%d", u->db);
		snprintf(what, sizeof(what), "could not select Redis database %d", u->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((rc = handshake_step(s, 2, argv, what)) != SINK_OK)
			return rc;
	}
	argv[0] = "PING";
	return handshake_step(s, 1, argv, "Redis is not ready");
}

static int
set_nonblocking(Sink *s)
{
	RedisSink  *rs = s->priv;
	int			flags = fcntl(rs->ctx->fd, F_GETFL);

	if (flags < 0 || fcntl(rs->ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return sink_fail(s, SINK_RETRY, "could not set the Redis socket to non-blocking mode: %s",
						 strerror(errno));
	rs->ctx->flags &= ~REDIS_BLOCK;
	if (rs->ctx->connection_type == REDIS_CONN_TCP)
		(void) redisEnableKeepAlive(rs->ctx);
	return SINK_OK;
}

static int
redis_connect(Sink *s)
{
	RedisSink  *rs = s->priv;
	const SinkUrl *u = &s->cfg->url;
	struct timeval tv = {CONNECT_TIMEOUT_S, 0};
	char		where[512];
	int			rc;

	redis_disconnect(s);
	if (u->kind == SINK_REDIS_UNIX)
	{
		snprintf(where, sizeof(where), "%s", u->path ? u->path : "");
		rs->ctx = redisConnectUnixWithTimeout(where, tv);
	}
	else if (u->kind == SINK_REDIS_TCP)
	{
		const char *host = u->host ? u->host : "localhost";
		int			port = u->port ? u->port : 6379;

		snprintf(where, sizeof(where), "%s:%d", host, port);
		rs->ctx = redisConnectWithTimeout(host, port, tv);
	}
	else
		return sink_fail(s, SINK_FATAL, "the Redis sink needs a redis:// or unix:// URL");
	if (rs->ctx == NULL || rs->ctx->err)
	{
		rc = sink_fail(s, SINK_RETRY, "could not connect to Redis at %s: %s",
					   where, rs->ctx ? rs->ctx->errstr : "out of memory");
		redis_disconnect(s);
		return rc;
	}
	if ((rc = handshake(s)) != SINK_OK || (rc = set_nonblocking(s)) != SINK_OK)
	{
		redis_disconnect(s);
		return rc;
	}
	install_reply_fns(s);
	return SINK_OK;
}

static void
redis_disconnect(Sink *s)
{
	RedisSink  *rs = s->priv;
	RCheck	   *c;

	if (rs->ctx != NULL)
		redisFree(rs->ctx);
	rs->ctx = NULL;
	while (rs->head != NULL)
	{
		RTxn	   *tx = rs->head;

		rs->head = tx->next;
		txn_free(tx);
	}
	rs->tail = rs->exec_next = rs->building = NULL;
	memset(&rs->exec, 0, sizeof(rs->exec));
	while ((c = check_pop(rs)) != NULL)
		free(c);
	strtab_free(&rs->groups);
	free(rs->ring);
	rs->ring = NULL;
	rs->ring_cap = rs->ring_start = rs->ring_len = 0;
	rs->pending = 0;
}

/* ---------------------------------------------------------------------
 * begin, job, commit
 * ---------------------------------------------------------------------
 */

static int
redis_begin(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	const char *argv[1] = {"MULTI"};
	RTxn	   *tx;
	char		lsn[ENTRY_ID_LEN];

	if (rs->ctx == NULL)
		return sink_fail(s, SINK_RETRY, "not connected to Redis");
	if (rs->building != NULL)
		return sink_fail(s, SINK_FATAL, "transaction with commit LSN %s began before the previous one was committed",
						 lsn_str(lsn, txn->commit_lsn));
	if ((tx = calloc(1, sizeof(RTxn))) == NULL)
		return out_of_memory(s);
	tx->ticket = t;
	tx->lsn = txn->commit_lsn;
	tx->prev = rs->tail;
	if (rs->tail)
		rs->tail->next = tx;
	else
		rs->head = tx;
	rs->tail = tx;
	if (rs->exec_next == NULL)
		rs->exec_next = tx;
	rs->building = tx;
	return append_strs(s, 1, argv, CMD_MULTI);
}

/* prefix + target into keybuf */
static bool
build_key(RedisSink *rs, const SinkConfig *cfg, const FrameJob *job,
		  size_t *keylen)
{
	size_t		plen = cfg->target_prefix ? strlen(cfg->target_prefix) : 0;
	size_t		need = plen + job->target.len + 1;

	if (need > rs->keybuf_cap)
	{
		char	   *buf = realloc(rs->keybuf, need);

		if (buf == NULL)
			return false;
		rs->keybuf = buf;
		rs->keybuf_cap = need;
	}
	if (plen > 0)
		memcpy(rs->keybuf, cfg->target_prefix, plen);
	if (job->target.len > 0)
		memcpy(rs->keybuf + plen, job->target.data, job->target.len);
	rs->keybuf[plen + job->target.len] = '\0';
	*keylen = plen + job->target.len;
	return true;
}

/* queue XGROUP CREATE for a key new on this connection */
static int
ensure_group(Sink *s, RTxn *tx, uint32_t key, size_t keylen)
{
	RedisSink  *rs = s->priv;
	const char *argv[6] = {"XGROUP", "CREATE", rs->keybuf, s->cfg->redis_group,
	"0", "MKSTREAM"};
	size_t		argvlen[6] = {6, 6, keylen, strlen(s->cfg->redis_group), 1, 8};
	int			rc;

	if (strtab_find(&rs->groups, rs->keybuf, keylen) >= 0)
		return SINK_OK;
	if ((rc = append_cmd(s, 6, argv, argvlen, CMD_QUEUED)) != SINK_OK)
		return rc;
	if (!txn_add_run(tx, key, 0, true) ||
		strtab_add(&rs->groups, rs->keybuf, keylen) < 0)
		return out_of_memory(s);
	tx->ncmds++;
	return SINK_OK;
}

static bool
grow_argv(RedisSink *rs, size_t need)
{
	const char **argv;
	size_t	   *argvlen;

	if (need <= rs->argv_cap)
		return true;
	argv = realloc(rs->argv, need * sizeof(char *));
	if (argv == NULL)
		return false;
	rs->argv = argv;
	argvlen = realloc(rs->argvlen, need * sizeof(size_t));
	if (argvlen == NULL)
		return false;
	rs->argvlen = argvlen;
	rs->argv_cap = need;
	return true;
}

static void
push_arg(RedisSink *rs, size_t *n, const char *p, size_t len)
{
	rs->argv[*n] = p ? p : "";
	rs->argvlen[*n] = len;
	(*n)++;
}

/* XADD key [MAXLEN ~ N] id field value ... */
static int
append_xadd(Sink *s, const RTxn *tx, const FrameJob *job, size_t keylen)
{
	RedisSink  *rs = s->priv;
	uint32_t	ncols = job->is_message ? 0 : job->rel->ncols;
	size_t		n = 0;
	size_t		first_field;
	char		id[ENTRY_ID_LEN];

	if (!grow_argv(rs, 6 + 2 * (size_t) ncols + 4))
		return out_of_memory(s);
	entry_id(id, tx->lsn, job->seq);
	push_arg(rs, &n, "XADD", 4);
	push_arg(rs, &n, rs->keybuf, keylen);
	if (rs->maxlen[0] != '\0')
	{
		push_arg(rs, &n, "MAXLEN", 6);
		push_arg(rs, &n, "~", 1);
		push_arg(rs, &n, rs->maxlen, strlen(rs->maxlen));
	}
	push_arg(rs, &n, id, strlen(id));
	first_field = n;
	if (job->is_message)
	{
		push_arg(rs, &n, "payload", 7);
		push_arg(rs, &n, job->payload.data, job->payload.len);
		if (job->has_key)
		{
			push_arg(rs, &n, "key", 3);
			push_arg(rs, &n, job->key.data, job->key.len);
		}
	}
	for (uint32_t i = 0; i < ncols; i++)
	{
		if (job->values[i].isnull)
			continue;
		push_arg(rs, &n, job->rel->cols[i].name.data, job->rel->cols[i].name.len);
		push_arg(rs, &n, job->values[i].data.data, job->values[i].data.len);
	}
	/* an entry needs a field: a row of NULLs gets one empty field */
	if (n == first_field)
	{
		push_arg(rs, &n, "", 0);
		push_arg(rs, &n, "", 0);
	}
	return append_cmd(s, (int) n, rs->argv, rs->argvlen, CMD_QUEUED);
}

static int
redis_job(Sink *s, const FrameTxn *txn, const FrameJob *job, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	RTxn	   *tx = rs->building;
	size_t		keylen;
	int64_t		key;
	int			rc;

	(void) txn;
	(void) t;
	if (tx == NULL)
		return sink_fail(s, SINK_FATAL, "job %" PRIu32 " outside a transaction", job->seq);
	if (!job->is_message &&
		(job->rel == NULL || (job->rel->ncols > 0 && job->values == NULL)))
		return sink_fail(s, SINK_FATAL, "row job %" PRIu32 " has no relation", job->seq);
	if (!build_key(rs, s->cfg, job, &keylen))
		return out_of_memory(s);
	key = strtab_find(&tx->keys, rs->keybuf, keylen);
	if (key < 0 && (key = strtab_add(&tx->keys, rs->keybuf, keylen)) < 0)
		return out_of_memory(s);
	if (s->cfg->redis_group != NULL &&
		(rc = ensure_group(s, tx, (uint32_t) key, keylen)) != SINK_OK)
		return rc;
	if ((rc = append_xadd(s, tx, job, keylen)) != SINK_OK)
		return rc;
	if (!txn_add_run(tx, (uint32_t) key, job->seq, false))
		return out_of_memory(s);
	tx->njobs++;
	tx->ncmds++;
	if (sdslen(rs->ctx->obuf) >= FLUSH_THRESHOLD)
		return flush_output(s);
	return SINK_OK;
}

static int
redis_commit(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	const char *argv[1] = {"EXEC"};
	char		lsn[ENTRY_ID_LEN];

	(void) t;
	if (rs->building == NULL)
		return sink_fail(s, SINK_FATAL, "commit with commit LSN %s outside a transaction",
						 lsn_str(lsn, txn->commit_lsn));
	rs->building = NULL;
	return append_strs(s, 1, argv, CMD_EXEC);
}

/* ---------------------------------------------------------------------
 * poll, drain and the rest of the interface
 * ---------------------------------------------------------------------
 */

/* wait for the socket; returns poll's revents, 0 on timeout, -1 on error */
static int
wait_socket(RedisSink *rs, int timeout_ms)
{
	struct pollfd pfd;
	int			rc;

	pfd.fd = rs->ctx->fd;
	pfd.events = POLLIN;
	if (sdslen(rs->ctx->obuf) > 0)
		pfd.events |= POLLOUT;
	pfd.revents = 0;
	rc = poll(&pfd, 1, timeout_ms);
	return rc <= 0 ? rc : pfd.revents;
}

static int
remaining_ms(int64_t deadline, int timeout_ms)
{
	int64_t		left;

	if (timeout_ms < 0)
		return -1;
	left = deadline - now_ms();
	return left > 0 ? (int) left : 0;
}

static int
redis_poll(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	RedisSink  *rs = s->priv;
	int64_t		deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int			reads = 0;
	int			rc;

	if (rs->ctx == NULL)
		return sink_fail(s, SINK_RETRY, "not connected to Redis");
	rs->ack = ack;
	rs->ack_arg = arg;
	if ((rc = flush_output(s)) != SINK_OK || (rc = process_replies(s)) != SINK_OK)
		return rc;
	while (reads < MAX_READS_PER_POLL)
	{
		int			wait = reads > 0 ? 0 : remaining_ms(deadline, timeout_ms);
		int			ev = wait_socket(rs, wait);

		if (ev < 0 && errno == EINTR)
			return SINK_OK;
		if (ev < 0)
			return sink_fail(s, SINK_RETRY, "could not wait for the Redis socket: %s",
							 strerror(errno));
		if (ev == 0)
			break;
		if ((ev & POLLOUT) && (rc = flush_output(s)) != SINK_OK)
			return rc;
		if (ev & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
		{
			if (redisBufferRead(rs->ctx) != REDIS_OK)
				return lost_connection(s);
			if ((rc = process_replies(s)) != SINK_OK)
				return rc;
			reads++;
		}
		else if (wait == 0)
			break;
	}
	return SINK_OK;
}

/*
 * Wait until every command has its reply.  Running out of time is reported
 * as SINK_RETRY: what was not acknowledged gets replayed next time.
 */
static int
redis_drain(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	RedisSink  *rs = s->priv;
	int64_t		deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	bool		timed_out = false;

	if (rs->ctx == NULL)
		return SINK_OK;
	for (;;)
	{
		int			rc;
		int			left;

		if (rs->ring_len == 0 && sdslen(rs->ctx->obuf) == 0)
			return SINK_OK;
		if (timed_out)
			return sink_fail(s, SINK_RETRY, "timed out after %d ms waiting for Redis (%zu bytes unacknowledged)",
							 timeout_ms, rs->pending);
		left = remaining_ms(deadline, timeout_ms);
		timed_out = left == 0;
		if ((rc = redis_poll(s, left, ack, arg)) != SINK_OK)
			return rc;
	}
}

static int
redis_socket(Sink *s, bool *want_write)
{
	RedisSink  *rs = s->priv;

	*want_write = false;
	if (rs->ctx == NULL)
		return -1;
	*want_write = sdslen(rs->ctx->obuf) > 0;
	return rs->ctx->fd;
}

static size_t
redis_pending_bytes(Sink *s)
{
	return ((RedisSink *) s->priv)->pending;
}

static void
redis_destroy(Sink *s)
{
	RedisSink  *rs;

	if (s == NULL)
		return;
	rs = s->priv;
	redis_disconnect(s);
	free(rs->argv);
	free(rs->argvlen);
	free(rs->keybuf);
	free(rs);
	free(s);
}

static const SinkOps redis_ops = {
	.name = "redis",
	.connect = redis_connect,
	.begin = redis_begin,
	.job = redis_job,
	.commit = redis_commit,
	.poll = redis_poll,
	.socket = redis_socket,
	.pending_bytes = redis_pending_bytes,
	.disconnect = redis_disconnect,
	.drain = redis_drain,
	.destroy = redis_destroy
};

Sink *
sink_redis_create(const SinkConfig *cfg)
{
	Sink	   *s = calloc(1, sizeof(Sink));
	RedisSink  *rs = calloc(1, sizeof(RedisSink));

	if (s == NULL || rs == NULL)
	{
		free(s);
		free(rs);
		return NULL;
	}
	s->ops = &redis_ops;
	s->cfg = cfg;
	s->priv = rs;
	if (cfg->redis_maxlen > 0)
		snprintf(rs->maxlen, sizeof(rs->maxlen), "%lld", cfg->redis_maxlen);
	return s;
}
