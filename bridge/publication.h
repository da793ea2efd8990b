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

#include "pgerror.h"
#include "pgoutput.h"

/*
 * On x's connection (a replication=database one; plain SQL only), each
 * command run by x (a command given up: 1, and err left as it was): the
 * publication must exist (or is created when create is set), publish
 * inserts, and publish every table --tables selects (or something, without
 * --tables).  A missing publication is not created for an existing slot
 * (pgoutput could not decode the slot's older transactions).  Returns 0, or
 * 1 with err saying what is wrong and what to run by hand.
 */
extern int	publication_prepare(const PgExec *x, const PgoConfig *cfg, const char *slot,
								bool create, char *err, size_t errlen);

#endif							/* W2Q_PUBLICATION_H */
