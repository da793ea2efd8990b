/*-------------------------------------------------------------------------
 *
 * stream_internal.h
 *		What stream.c (the replication connection), stream_own.c (the
 *		bridge's own walsenders) and slot.c (the slot's lifecycle on it)
 *		share; no other file includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_STREAM_INTERNAL_H
#define W2Q_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "stream.h"

#define PLUGIN_NAME "wal2queue"
#define SLOT_PLUGIN(s) ((s)->cfg->plugin ? (s)->cfg->plugin : PLUGIN_NAME)
/* the first key of --create-slot's advisory lock (slot.c slot_lock_name()) */
#define CREATE_LOCK_CLASS 0x77327100

/* stream.c: set s->err (one line, no trailing period) and return code */
extern int	stream_fail(Stream *s, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
/* stream.c: the server's message (and hint) of a failed command */
extern const char *stream_result_message(PGresult *res, char *buf, size_t buflen);
extern int	stream_connect(Stream *s);
/* stream.c: PQexec under the connection limits; NULL when given up */
extern PGresult *stream_exec(Stream *s, const char *sql);
/* stream.c: stream_exec() as a PgExec, for publication.c and before_start */
extern void stream_pgexec(Stream *s, PgExec *x);
/* stream.c: a command on the replication connection; code for errors */
extern int	stream_run_command(Stream *s, const char *sql, ExecStatusType want,
							   PGresult **out);
/* slot.c: note the POSTMASTER_EPOCH_SQL column col of res in s->conn_epoch */
extern void slot_note_epoch(Stream *s, PGresult *res, int col);
/* stream.c: IDENTIFY_SYSTEM: which server, which timeline, which database */
extern int	stream_identify_system(Stream *s);
/*
 * stream_own.c: this connection's backend (the server's start, the pid, the
 * backend's start), then the end of the walsender of an open given up
 */
extern int	stream_identify_backend(Stream *s);
/* stream_own.c: this connection's walsender is this process's own */
extern void remember_own(Stream *s);
/* stream_own.c: this connection's command was given up: end it at the next open */
extern void remember_gone(Stream *s);

/* stream_own.c: own_command_running()'s argument, for pgerror_exec_watched() */
typedef struct OwnCheck
{
	Stream	   *s;
	const char *sql;			/* the command waited for */
	int			blind;			/* bounds in a row that told nothing */
	char		made[32];		/* CREATE_REPLICATION_SLOT: the slot's
								 * restart_lsn while its walsender held it
								 * at a check, or "" */
} OwnCheck;

/* stream_own.c: does the server still run this connection's command? */
extern bool own_command_running(void *arg, const char **why);
/* stream.c: turn the server's refusal to load our plugin into a hint */
extern void stream_explain_plugin_refusal(Stream *s);

/* slot.c: checks and clean-up of stream_open() */
extern int	slot_lock_name(Stream *s);
extern void slot_lock_holder(Stream *s, char *buf, size_t len);
extern int	slot_check_publication(Stream *s);
extern int	slot_check(Stream *s, bool may_create);
extern int	slot_check_wal_status(Stream *s);
extern void slot_drop_created(Stream *s);

/* slot_registry.c: the extension's slot registry (1 usable, 0 absent, -1 no USAGE) */
extern int	slot_registry_state(Stream *s);
extern int	slot_registry_present(Stream *s);
extern void slot_registry_call(Stream *s, bool add);

#endif							/* W2Q_STREAM_INTERNAL_H */
