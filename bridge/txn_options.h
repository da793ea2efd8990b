/*-------------------------------------------------------------------------
 *
 * txn_options.h
 *		The options that choose which transactions become jobs (the plugin,
 *		--publication, --tables), as the sinks' records keep them, and their
 *		comparison as a selection (txn_options.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_TXN_OPTIONS_H
#define W2Q_TXN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

/*
 * "--plugin=P[ --publication=N] --tables=LIST" or "--plugin=P[ --publication=N],
 * no --tables"; malloc'd, NULL when out of memory
 */
extern char *txn_options_text(const SinkConfig *cfg);

/* the same selection: the plugin and publication alike, --tables as a set */
extern bool txn_options_same(const char *a, const char *b);

/*
 * Does every transaction NARROW selects get selected by WIDE as well (the
 * plugin and publication alike, and WIDE without --tables or NARROW's
 * patterns among WIDE's)?  A sufficient test: false when it cannot tell.
 */
extern bool txn_options_within(const char *narrow, const char *wide);

/*
 * OPTS for a message in BUF (of SIZE bytes), in at most ROOM characters if
 * it can be: whole if it fits, else its first comma-separated items and
 * "... (N more)", never fewer than the first item.  True if shortened.
 */
extern bool txn_options_brief(const char *opts, char *buf, size_t size, size_t room);

/*
 * Can a session under MINE replay what RECORDED chose: the plugin and
 * publication alike (only --tables may differ)?  Then *tables is
 * RECORDED's --tables text (malloc'd; NULL: no --tables) and *nomem
 * false.  False when they differ, or out of memory (*nomem true).
 */
extern bool txn_options_tables_of(const char *recorded, const char *mine, char **tables,
								  bool *nomem);

#endif							/* W2Q_TXN_OPTIONS_H */
