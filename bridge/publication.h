/*-------------------------------------------------------------------------
 *
 * publication.h
 *		The pgoutput mode's publication: checked at every stream open,
 *		created by --create-slot when it is missing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PUBLICATION_H
#define W2Q_PUBLICATION_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "pgoutput.h"

/*
 * On conn (a replication=database connection; plain SQL only): the
 * publication must exist (or is created when create is set), publish
 * inserts, and publish every table --tables selects (or something, without
 * --tables).  A missing publication is not created for an existing slot
 * (pgoutput could not decode the slot's older transactions).  Returns 0, or
 * 1 with err saying what is wrong and what to run by hand.
 */
extern int	publication_prepare(PGconn *conn, const PgoConfig *cfg, const char *slot,
								bool create, char *err, size_t errlen);

#endif							/* W2Q_PUBLICATION_H */
