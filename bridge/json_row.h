/*-------------------------------------------------------------------------
 *
 * json_row.h
 *		A row of a wal2queue frame as a JSON object, typed as the plugin's
 *		JSON form types "row" (plugin/FORMAT.md): numbers as numbers (NaN,
 *		Infinity and -Infinity as strings), bools as true/false, json and
 *		jsonb embedded, everything else as a string, NULL as null.
 *
 * Strings are escaped as PostgreSQL's escape_json() does (\b \f \n \r \t
 * \" \\ and \u00xx for the other control characters), so the bridge's JSON
 * is byte for byte what the plugin's JSON form would print for the row.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_JSON_ROW_H
#define W2Q_JSON_ROW_H

#include <stddef.h>

#include "frame.h"

/* a growable, always NUL-terminated text buffer */
typedef struct JsonBuf
{
	char	   *data;			/* NULL until something was appended */
	size_t		len;
	size_t		cap;
} JsonBuf;

extern void json_buf_init(JsonBuf *b);
extern void json_buf_reset(JsonBuf *b);
extern void json_buf_free(JsonBuf *b);

/* the append functions return 0, or -1 when out of memory */
extern int	json_append_raw(JsonBuf *b, const char *s, size_t len);
extern int	json_append_string(JsonBuf *b, const char *s, size_t len);

/* one column value of kind W2Q_KIND_* */
extern int	json_append_value(JsonBuf *b, char kind, const FrameValue *v);

/* b := {"col":value,...} for rel's columns in order; 0 or -1 (out of memory) */
extern int	json_row(JsonBuf *b, const FrameRelation *rel, const FrameValue *values);

#endif							/* W2Q_JSON_ROW_H */
