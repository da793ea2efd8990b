/*-------------------------------------------------------------------------
 *
 * backfill_marker.c
 *		The creation marker's loose ends (backfill.c mark_creating() records
 *		it before the slot is created):
 *	- CREATE_REPLICATION_SLOT refused for good after the marker (all
 *	  replication slots in use, the name taken meanwhile by another
 *	  client): the marker is removed again where the sink can (Redis, when
 *	  it is all the record holds) and the error says what is left behind
 *	  and how to go on;
 *	- a marker found beside a slot of another output plugin: never taken
 *	  for the backfill's own slot (which would be dropped);
 *	- a start without --backfill that finds a marker and no slot: the
 *	  refusal says that the backfill was never started and both ways on.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_internal.h"
#include "log.h"

#define SLOT_NAME_LEN 64

/* the plugin this bridge creates its slots with (stream_internal.h) */
static const char *
our_plugin(const Backfill *bf)
{
	return bf->cfg->stream.plugin ? bf->cfg->stream.plugin : "wal2queue";
}

/*
 * The slot of that name now, on the lock's connection: 1 (and its plugin
 * and database, each of SLOT_NAME_LEN), 0 none, -1 unknown.
 */
static int
slot_now(Backfill *bf, char *plugin, char *db)
{
	const char *params[1] = {bf->cfg->stream.slot};
	PGresult   *res;
	int			found = -1;

	if (bf->lock_conn == NULL)
		return -1;
	res = PQexecParams(bf->lock_conn, "SELECT plugin, coalesce(database, '') FROM "
					   "pg_catalog.pg_replication_slots WHERE slot_name = $1",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		found = PQntuples(res) > 0;
		snprintf(plugin, SLOT_NAME_LEN, "%s", found ? PQgetvalue(res, 0, 0) : "");
		snprintf(db, SLOT_NAME_LEN, "%s", found ? PQgetvalue(res, 0, 1) : "");
	}
	PQclear(res);
	return found;
}

/*
 * The exact command that removes the marker from the sink: with Redis the
 * progress record (all of it while it holds no streamed position, else its
 * backfill fields), with Kafka the state topic (the marker is its last
 * message; a state topic is the backfill's alone).
 */
void
bf_marker_removal(const Backfill *bf, char *buf, size_t len)
{
	const SinkConfig *sc = bf->sink->cfg;
	const char *prefix = sc->target_prefix ? sc->target_prefix : "";
	char		conn[300] = "";

	if (sc->url.kind == SINK_KAFKA)
	{
		snprintf(buf, len, "kafka-topics.sh --bootstrap-server %s --delete --topic '%swal2queue-backfill.%s'",
				 sc->url.brokers, prefix, bf->cfg->stream.slot);
		return;
	}
	if (sc->url.kind == SINK_REDIS_UNIX)
		snprintf(conn, sizeof(conn), " -s %s", sc->url.path);
	else
		snprintf(conn, sizeof(conn), " -h %s -p %d", sc->url.host, sc->url.port);
	if (sc->url.db != 0)
		snprintf(conn + strlen(conn), sizeof(conn) - strlen(conn), " -n %d", sc->url.db);
	if (bf->cur.record_lsn == 0)
		snprintf(buf, len, "redis-cli%s DEL '%swal2queue:progress:%s'", conn, prefix, bf->cfg->stream.slot);
	else
		snprintf(buf, len, "redis-cli%s HDEL '%swal2queue:progress:%s' backfill_lsn backfill_seq "
				 "backfill_rows backfill_done backfill_snapshot backfill_condition backfill_table "
				 "backfill_key backfill_storage backfill_label backfill_keydef backfill_table_oid "
				 "backfill_tables_done",
				 conn, prefix, bf->cfg->stream.slot);
}

/*
 * CREATE_REPLICATION_SLOT failed (rc, bf->stream.err) after the marker was
 * recorded; marker_only: before it the sink held nothing of the slot but,
 * at most, an earlier marker.  A retry keeps the marker (the retry needs
 * it).  For good: remove the marker where the sink can, else say where it
 * is; and if a slot of that name exists now it is another client's.
 */
int
bf_create_failed(Backfill *bf, int rc, bool marker_only)
{
	char		why[sizeof(bf->err)];
	char		plugin[SLOT_NAME_LEN];
	char		db[SLOT_NAME_LEN];
	char		left[2048];
	char		removal[400];
	int			taken;
	int			urc = SINK_FATAL;

	snprintf(why, sizeof(why), "%s", bf->stream.err);
	if (rc != STREAM_FATAL)
		return bf_fail(bf, BF_RETRY, "%s", why);
	taken = slot_now(bf, plugin, db);
	bf_marker_removal(bf, removal, sizeof(removal));
	if (marker_only && bf->sink->ops->backfill_unmark)
		urc = bf->sink->ops->backfill_unmark(bf->sink, &bf->src, bf->cur.seq);
	if (urc == SINK_OK)
	{
		snprintf(left, sizeof(left), "the creation marker this run recorded in %s was removed again: "
				 "nothing of this backfill is left behind", bf->sink->ops->name);
		backfill_state_free(&bf->cur);
		memset(&bf->cur, 0, sizeof(bf->cur));
	}
	else
		snprintf(left, sizeof(left), "the creation marker this run recorded is left in %s%s%s%s: %s%s",
				 bf->sink->ops->name,
				 marker_only && bf->sink->ops->backfill_unmark ? " (could not remove it: " : "",
				 marker_only && bf->sink->ops->backfill_unmark ? bf->sink->err : "",
				 marker_only && bf->sink->ops->backfill_unmark ? ")" : "",
				 taken == 1 ? "while that slot exists the same command line would take it for the one the "
				 "marker was recorded for (one of another plugin is refused, one of this plugin dropped "
				 "and created again): remove the marker before any start with this slot name, with: " :
				 "the same command line creates the slot and backfills once a slot can be created, and "
				 "a start without --backfill refuses it until then; to give the backfill up remove it "
				 "with: ", removal);
	if (taken == 1)
		return bf_fail(bf, BF_FATAL, "could not create replication slot \"%s\" for the backfill: %s; a slot "
					"of that name was created meanwhile by another client (plugin %s): it is not this "
					"backfill's and the bridge leaves it alone; %s", bf->cfg->stream.slot, why, plugin, left);
	return bf_fail(bf, BF_FATAL, "could not create replication slot \"%s\" for the backfill: %s; no slot was "
				"created; %s", bf->cfg->stream.slot, why, left);
}

/*
 * A marker and a slot of that name: the slot this backfill created before
 * it was stopped, to be dropped and created again, only if it uses this
 * bridge's plugin in its database.  Another one was created by someone
 * else (the name taken between the marker and the creation): refused,
 * untouched.
 */
int
bf_marker_slot_check(Backfill *bf)
{
	char		plugin[SLOT_NAME_LEN];
	char		db[SLOT_NAME_LEN];
	char		what[300];
	char		removal[400];

	if (slot_now(bf, plugin, db) != 1)
		return 0;
	if (strcmp(plugin, our_plugin(bf)) != 0)
		snprintf(what, sizeof(what), "uses output plugin \"%s\", not \"%s\"", plugin, our_plugin(bf));
	else if (strcmp(db, bf->src.dbname) != 0)
		snprintf(what, sizeof(what), "belongs to database \"%s\", not \"%s\"", db, bf->src.dbname);
	else
		return 0;
	bf_marker_removal(bf, removal, sizeof(removal));
	return bf_fail(bf, BF_FATAL, "replication slot \"%s\" %s: it is not the slot the unfinished backfill's "
				"creation marker in %s was recorded for (another client took the name) and the bridge "
				"does not drop it; drop it yourself if it is not needed, or give the backfill up by "
				"removing the marker with: %s", bf->cfg->stream.slot, what, bf->sink->ops->name, removal);
}

/*
 * Without --backfill, a marker and no slot: the backfill was never started.
 * Streaming would create a slot that a later --backfill takes for the one
 * its marker was for (and drops it): refused, naming both ways on.
 */
int
bf_marker_refusal(Backfill *bf)
{
	char		removal[400];
	char	   *cmd = bf_hint_command(bf->cfg, bf->cur.condition ? bf->cur.condition : "", "");
	int			rc;

	bf_marker_removal(bf, removal, sizeof(removal));
	rc = bf_fail(bf, BF_FATAL, "the backfill of replication slot \"%s\" was never started: %s holds its creation "
			  "marker (condition \"%s\", no row delivered) but the slot was not created (the bridge that "
			  "recorded it stopped or could not create the slot); streaming without --backfill would leave "
			  "the marker to a later --backfill, which would take this run's slot for its own; either start "
			  "the backfill with: %s; or give it up by removing the marker with: %s",
			  bf->cfg->stream.slot, bf->sink->ops->name, bf->cur.condition ? bf->cur.condition : "",
			  cmd ? cmd : "the same command line with --backfill", removal);
	free(cmd);
	return rc;
}
