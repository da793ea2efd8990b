/*-------------------------------------------------------------------------
 *
 * redis_progress.c
 *		The wal2queue function library loaded into Redis, and what the
 *		sink makes of its verdicts.
 *
 * The library's public functions and their argument contract (a function
 * added beside it keeps these unchanged):
 *
 *	wal2queue_v1_deliver7 (FCALL, 1 key)
 *		KEYS[1] the progress record; ARGV: mode ("", "create", "replace",
 *		"renew": replace with a slot the bridge created, which refuses a
 *		record of another system or timeline: TAKEOVER),
 *		sysid, timeline, db, slot, maxlen ("" none), group ("" none), the
 *		number of items, then three msgpack arrays (array 32 of str 32 and
 *		unsigned integers), each one large argument, which Redis reads in
 *		one go (many small ones it reads about 16 kB per turn of its event
 *		loop, behind every other client), and which become no Redis object
 *		per element.  The first holds per item: prev and end (16 hex
 *		digits, comparable as strings), commit LSN ("%X/%X"), xid and
 *		commit time (decimal, microseconds since the Unix epoch; both "" for
 *		an item that is no transaction), the number of its stream keys and
 *		the keys, the staging list's length and key ("" none), the number of
 *		pieces staged and the number of arguments of each, and the number of
 *		its elements in the second array.  The second holds every item's
 *		entries in order: an entry is its shape (1-based), its key (1-based,
 *		among its item's keys), seq, then its k values.  The third holds the
 *		call's shapes: per shape its number of fields k and the k field
 *		names.  An entry becomes XADD key * _lsn <commit LSN> _seq seq field
 *		value ...; with a maxlen each stream the call added to is trimmed
 *		once at the end, never below the entries the call added.  A staging
 *		list holds entries as deliver4 had them inline: n, then its n
 *		elements: key, seq, field, value, ...  The last argument: the
 *		options that choose transactions (progress_options()), recorded as
 *		txn_options with the call's last transaction.
 *		Reply: {items done, verdict, record lsn, record sysid, timeline, db,
 *		slot, detail, detail2, unverified, detail3[, detail4]}; verdict OK, GAP,
 *		SOURCE, TAKEOVER, AHEAD, NORECORD, STAGEGAP, NEWSLOT (detail: where the new
 *		slot begins), HISTORY (detail: the record's txn_end, detail2: its
 *		xid, detail3: its commit time; the item at index "items done" is the
 *		one that reached or passed txn_end; detail4: its txn_options, ""
 *		when the record has none), WRONGTYPE (detail: the key,
 *		detail2: its type), NOPERM (the user's ACL denies a command the call
 *		needs; detail: the key, detail2: the command) or FULL (a stream with
 *		no room for the call's
 *		IDs; record lsn: the commit LSN of its first job, detail: the key,
 *		detail2: that job's seq).  unverified: the record's txn_end when the
 *		items done were skipped below it (their acks wait), else "".
 *
 *	(wal2queue_v1_deliver took the entries as key index, seq, number of
 *	fields, fields; wal2queue_v1_deliver2 had no xid and commit time per
 *	item; wal2queue_v1_deliver3 had each item's entries inline, as
 *	arguments; wal2queue_v1_deliver4 had n, key, seq, field, value, ... per
 *	entry in the last argument and each item's header as arguments, trimmed
 *	with MAXLEN per entry, skipped transactions between the record's txn_end
 *	and lsn as delivered and checked no ACL; wal2queue_v1_deliver5 had
 *	deliver4's arguments; wal2queue_v1_deliver6 had no options argument
 *	and kept no txn_options.  The name changes with the layout so that bridges
 *	of two versions on one Redis fail loudly ("Function not found",
 *	retried) instead of misreading each other's calls.)
 *
 * One deliver call carries a batch of items in order, each a transaction
 * (or a position without jobs) with the position it follows (prev) and the
 * one it reaches (end).  Against the progress record of the slot (a hash:
 * sysid, timeline, db, slot, lsn, updated_at, and the last transaction
 * delivered: txn_end, txn_xid, txn_commit_time, txn_source, txn_options;
 * and lsn_options, the options of the call that last wrote lsn)
 * each item is
 *	- another history when prev < txn_end <= end and it is not the
 *	  transaction the record names (HISTORY): a server rolled back on the
 *	  same timeline whose WAL passed the record.  The LSN alone cannot
 *	  tell; the transaction at txn_end is the positive evidence.  Only
 *	  under the options it was chosen with (txn_options): under others
 *	  the bridge stops naming both instead (redis_history.c);
 *	- already delivered when end <= record.lsn: skipped, unless it is a
 *	  transaction after txn_end (the record delivered none between txn_end
 *	  and lsn: it is new, and written as next);
 *	- next when prev <= record.lsn < end: its entries are added and
 *	  record.lsn becomes end (txn_* the item's, if a transaction);
 *	- refused when record.lsn < prev (GAP): an earlier call was refused
 *	  or Redis lost acknowledged writes.  The rest of the call is refused
 *	  too, and so is every later call: the chain cannot skip a hole.
 * A record of another source is refused (SOURCE), no record at all too
 * (NORECORD), unless the first call of the session says it may create or
 * replace it; a record of the same system past where the session begins
 * is not replaced (AHEAD): the server lacks WAL that Redis holds jobs of.
 * "create" (the bridge created the slot) refuses a record of the same
 * source behind the new slot (NEWSLOT): the slot was dropped after it
 * delivered, and what was committed in between is in no slot; "replace"
 * (--accept-new-source) moves it up, accepting the gap.  "renew" (both:
 * --accept-new-source and a slot the bridge created without --backfill)
 * refuses a record of another system or timeline (TAKEOVER): after a
 * failover the new slot starts past every job the old one had not
 * delivered, and only a backfill re-delivers them.  Taking a record
 * over drops its txn_* fields (a backfill's takeover too, redis_backfill.c);
 * txn_* of another sysid/timeline than the record's (a backfill of a bridge
 * before test/t/600 took the record over) do not count, here nor in
 * progress_on_record() (redis_history.c).  Every key is
 * checked to be a stream (or absent) before anything is written, so a call
 * never stops half-way; it always writes the record's updated_at, so a
 * WAIT after it covers all it relied on.
 *
 * Entries of a transaction too large for one call are staged first, as
 * they stream in, with plain RPUSH into a list no consumer reads (each
 * RPUSH's reply, the list's length, must be what the sink expects); the
 * deliver call checks the whole list first (stagecheck: its length and
 * every entry's structure, STAGEGAP otherwise), then moves the entries
 * into their streams and deletes it.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "lsn.h"
#include "redis_sink.h"

const char *const redis_library =
"#!lua name=wal2queue_v1\n"
"local function lsntext(h)\n"
"  return string.format('%X/%X', tonumber(string.sub(h, 1, 8), 16),\n"
"                       tonumber(string.sub(h, 9, 16), 16))\n"
"end\n"
"local function lsnhex(t)\n"
"  local hi, lo = string.match(t or '', '^(%x+)/(%x+)$')\n"
"  if not hi or #hi > 8 or #lo > 8 then return nil end\n"
"  return string.format('%08X%08X', tonumber(hi, 16), tonumber(lo, 16))\n"
"end\n"
/*
 * Entries in the shaped layout (see the argument contract above): a
 * template table per shape, made once per call, holds the XADD's constants
 * and the field names; an entry sets key, commit LSN, seq and its values in
 * it and it is unpacked.  Every Lua string is hashed byte by byte when it is
 * made, so names, counts and keys are not strings per entry.
 */
"local function templates(shapes)\n"
"  local tpl, tops, sizes, i, sq = {}, {}, {}, 1, 7\n"
"  while i <= #shapes do\n"
"    local t, k = {'XADD', '', '*', '_lsn', '', '_seq', ''}, shapes[i]\n"
"    for f = 1, k do t[sq + 2 * f - 1] = shapes[i + f] end\n"
"    tpl[#tpl + 1], tops[#tops + 1], sizes[#sizes + 1] = t, sq + 2 * k, k\n"
"    i = i + k + 1\n"
"  end\n"
"  return tpl, tops, sizes, sq\n"
"end\n"
"local function xshaped(ents, i, last, lsn, hdr, k0)\n"
"  local call, tpl, tops, sq = redis.call, ents.tpl, ents.tops, ents.sq\n"
"  for s = 1, #tpl do tpl[s][sq - 2] = lsn end\n"
"  while i <= last do\n"
"    local s, j = ents[i], i + 2\n"
"    local t, top = tpl[s], tops[s]\n"
"    t[2], t[sq] = hdr[k0 + ents[i + 1]], ents[j]\n"
"    for f = sq + 2, top, 2 do j = j + 1; t[f] = ents[j] end\n"
"    call(unpack(t, 1, top))\n"
"    i = j + 1\n"
"  end\n"
"end\n"
"local function parse(argv)\n"
"  local hdr, items, pos, first = cmsgpack.unpack(argv[9]), {}, 1, 1\n"
"  for i = 1, tonumber(argv[8]) do\n"
"    local nk = hdr[pos + 5]\n"
"    local sp = pos + 6 + nk\n"
"    local nc = hdr[sp + 2]\n"
"    local ep = sp + 3 + nc\n"
"    items[i] = {prev = hdr[pos], stop = hdr[pos + 1], lsn = hdr[pos + 2],\n"
"                xid = hdr[pos + 3], ctime = hdr[pos + 4], k1 = pos + 6, k2 = pos + 5 + nk,\n"
"                nstaged = hdr[sp], stage = hdr[sp + 1], c1 = sp + 3, c2 = sp + 2 + nc,\n"
"                first = first, last = first + hdr[ep] - 1}\n"
"    first = first + hdr[ep]\n"
"    pos = ep + 1\n"
"  end\n"
"  local ents = cmsgpack.unpack(argv[10])\n"
"  ents.tpl, ents.tops, ents.sizes, ents.sq = templates(cmsgpack.unpack(argv[11]))\n"
"  return items, ents, hdr\n"
"end\n"
/*
 * typecheck: functions do not roll back, so whatever can make a write fail
 * is checked before the first one: key types, and room for new IDs.  XADD *
 * fails once a stream's last ID is 18446744073709551615-18446744073709551615:
 * a stream holding an entry whose ID has that maximum as its ms part and
 * leaves fewer sequence numbers than the call may add entries (bound: a
 * third of the entry arguments, an entry has at least three) is FULL.  One
 * TYPE and, for an existing stream, one XREVRANGE over that top range (empty
 * and O(log n) in any sane stream; XINFO STREAM would copy its first and last
 * entries) per distinct key per call.  Not seen: a stream whose entries at
 * the top were deleted (XDEL) after its ID reached the maximum.  FULL carries
 * the key, the commit LSN and seq of the first job routed there ("" when
 * staged).
 */
"local MAXID = '18446744073709551615'\n"
"local function noroom(k, bound)\n"
"  local seq = '0'\n"
"  if bound < 1 then bound = 1 end\n"
"  if bound < 9551615 then seq = '1844674407370' .. string.format('%07d', 9551615 - bound + 1) end\n"
"  return #redis.call('XREVRANGE', k, '+', MAXID .. '-' .. seq, 'COUNT', 1) > 0\n"
"end\n"
"local function firstjob(items, hdr, ents, k)\n"
"  for _, it in ipairs(items) do\n"
"    for ki = it.k1, it.k2 do\n"
"      if hdr[ki] == k then\n"
"        local i = it.first\n"
"        while i <= it.last do\n"
"          if ents[i + 1] == ki - it.k1 + 1 then return it.lsn, ents[i + 2] end\n"
"          i = i + ents.sizes[ents[i]] + 3\n"
"        end\n"
"        return it.lsn, ''\n"
"      end\n"
"    end\n"
"  end\n"
"  return '', ''\n"
"end\n"
"local function typecheck(pkey, items, hdr, ents)\n"
"  local types, bound = {}, 0\n"
"  local t = redis.call('TYPE', pkey)['ok']\n"
"  if t ~= 'hash' and t ~= 'none' then return nil, pkey, t end\n"
"  for _, it in ipairs(items) do bound = bound + math.floor((it.last - it.first + 1 + it.nstaged) / 3) end\n"
"  for _, it in ipairs(items) do\n"
"    for ki = it.k1, it.k2 do\n"
"      local k = hdr[ki]\n"
"      if k == pkey then return nil, k, 'progress record' end\n"
"      if types[k] == nil then\n"
"        t = redis.call('TYPE', k)['ok']\n"
"        if t ~= 'stream' and t ~= 'none' then return nil, k, t end\n"
"        if t == 'stream' and noroom(k, bound) then\n"
"          return nil, k, 'full', firstjob(items, hdr, ents, k)\n"
"        end\n"
"        types[k] = t\n"
"      end\n"
"    end\n"
"  end\n"
"  return types\n"
"end\n"
"local function xadds(src, i, last, lsn)\n"
"  local call = redis.call\n"
"  while i <= last do\n"
"    local n = tonumber(src[i])\n"
"    call('XADD', src[i + 1], '*', '_lsn', lsn, '_seq', unpack(src, i + 2, i + n))\n"
"    i = i + n + 1\n"
"  end\n"
"end\n"
"local function mkstreams(it, hdr, types, group)\n"
"  for k = it.k1, it.k2 do\n"
"    local key = hdr[k]\n"
"    if types[key] == 'none' then\n"
"      if group ~= '' then redis.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM') end\n"
"      types[key] = 'stream'\n"
"    end\n"
"  end\n"
"end\n"
/*
 * stagecheck: a staging list is a plain list any client of the Redis may
 * write, and a function does not roll back, so before the first XADD of a
 * transaction its whole list is read once and every piece must be what
 * the bridge sent: as many elements as the piece had, and entries n, key,
 * seq, field, value, ... with n even and at least 2, ending where the
 * piece ends, and a key among the item's stream keys (checked for type by
 * typecheck).  Nothing a client can do to the list then makes an XADD fail
 * half-way; a list that is not is STAGEGAP, and the bridge stages again.
 */
"local function stagecheck(it, hdr)\n"
"  if redis.call('LLEN', it.stage) ~= it.nstaged then return false end\n"
"  local keys, off = {}, 0\n"
"  for k = it.k1, it.k2 do keys[hdr[k]] = true end\n"
"  for c = it.c1, it.c2 do\n"
"    local n = hdr[c]\n"
"    local src = redis.call('LRANGE', it.stage, off, off + n - 1)\n"
"    if #src ~= n then return false end\n"
"    local i = 1\n"
"    while i <= n do\n"
"      local m = tonumber(src[i])\n"
"      if not m or m < 2 or m % 2 ~= 0 or i + m > n or not keys[src[i + 1]] then return false end\n"
"      i = i + m + 1\n"
"    end\n"
"    off = off + n\n"
"  end\n"
"  return true\n"
"end\n"
"local function write(it, argv, hdr, types, ents)\n"
"  if it.stage ~= '' and not stagecheck(it, hdr) then return false end\n"
"  mkstreams(it, hdr, types, argv[7])\n"
"  if it.stage ~= '' then\n"
"    local off = 0\n"
"    for c = it.c1, it.c2 do\n"
"      local n = hdr[c]\n"
"      xadds(redis.call('LRANGE', it.stage, off, off + n - 1), 1, n, it.lsn)\n"
"      off = off + n\n"
"    end\n"
"    redis.call('DEL', it.stage)\n"
"  end\n"
"  xshaped(ents, it.first, it.last, it.lsn, hdr, it.k1 - 1)\n"
"  return true\n"
"end\n"
/*
 * aclcheck: ACL key permissions are checked command by command, and a
 * function does not roll back, so every command the call may run once it
 * wrote (on the record, each stream, each staging list) is checked for the
 * calling user first (redis.acl_check_cmd, Redis 7.0): a denial (NOPERM)
 * names the key and the command, and nothing is written.
 */
"local function aclcheck(pkey, items, argv, hdr, types)\n"
"  local acl, seen = redis.acl_check_cmd, {}\n"
"  if not acl('TIME') then return '', 'TIME' end\n"
"  if not (acl('HSET', pkey, 'lsn', '') and acl('HDEL', pkey, 'txn_end')) then return pkey, 'HSET, HDEL' end\n"
"  for _, it in ipairs(items) do\n"
"    for ki = it.k1, it.k2 do\n"
"      local k = hdr[ki]\n"
"      if not seen[k] then\n"
"        seen[k] = true\n"
"        if not acl('XADD', k, '*', '_lsn', '') then return k, 'XADD' end\n"
"        if argv[7] ~= '' and types[k] == 'none' and\n"
"           not acl('XGROUP', 'CREATE', k, argv[7], '0', 'MKSTREAM') then return k, 'XGROUP CREATE' end\n"
"        if argv[6] ~= '' and not (acl('XLEN', k) and acl('XTRIM', k, 'MAXLEN', '~', argv[6])) then\n"
"          return k, 'XLEN, XTRIM'\n"
"        end\n"
"      end\n"
"    end\n"
"    if it.stage ~= '' and not (acl('LLEN', it.stage) and acl('LRANGE', it.stage, '0', '-1') and\n"
"                               acl('DEL', it.stage)) then return it.stage, 'LLEN, LRANGE, DEL' end\n"
"  end\n"
"end\n"
/*
 * --redis-maxlen N: entries are added without MAXLEN, and each stream the
 * call added to is trimmed once at its end to MAXLEN ~ max(N, the entries
 * the call added): the call never trims what it added itself, before any
 * reader could see it.  lens: each stream's length before the call.
 */
"local function lens(types, maxlen)\n"
"  local l = {}\n"
"  if maxlen == '' then return l end\n"
"  for k, t in pairs(types) do l[k] = t == 'stream' and redis.call('XLEN', k) or 0 end\n"
"  return l\n"
"end\n"
"local function trim(l, maxlen)\n"
"  for k, before in pairs(l) do\n"
"    local added = redis.call('XLEN', k) - before\n"
"    if added > 0 then\n"
"      redis.call('XTRIM', k, 'MAXLEN', '~', math.max(tonumber(maxlen), added))\n"
"    end\n"
"  end\n"
"end\n"
/*
 * A transaction after the record's last one (txn_end) and at or below its
 * lsn: the record delivered none there (only positions without jobs moved
 * lsn past txn_end), so it is not "delivered already" but new: another
 * history after a restore, or a table the filter let in since.  It is
 * written, and the record follows it (lsn may go back to its end).
 */
"local function unseen(it, tend)\n"
"  return tend ~= nil and it.xid ~= '' and it.prev >= tend\n"
"end\n"
/*
 * The record's last transaction (txn_end, txn_xid, txn_commit_time, of the
 * source txn_source = "sysid/timeline") is the positive evidence that a
 * replay is the same history: an item that reaches or crosses txn_end must
 * be that transaction (HISTORY otherwise).  Items skipped before it are
 * "unverified": the reply says so and the bridge holds their acks back.
 */
"local function lasttxn(r, src, dirty)\n"
"  if dirty or not (r[6] and r[7] and r[8]) or r[9] ~= src[1] .. '/' .. src[2] then return nil end\n"
"  return lsnhex(r[6]), r[7], r[8]\n"
"end\n"
"local function deliver(keys, argv)\n"
"  local pkey, mode = keys[1], argv[1]\n"
"  local src = {argv[2], argv[3], argv[4], argv[5]}\n"
"  local items, ents, hdr = parse(argv)\n"
"  local types, badkey, badtype, badlsn, badseq = typecheck(pkey, items, hdr, ents)\n"
"  if badtype == 'full' then return {0, 'FULL', badlsn, '', '', '', '', badkey, badseq, '', ''} end\n"
"  if not types then return {0, 'WRONGTYPE', '', '', '', '', '', badkey, badtype, '', ''} end\n"
"  local denied, dcmd = aclcheck(pkey, items, argv, hdr, types)\n"
"  if denied then return {0, 'NOPERM', '', '', '', '', '', denied, dcmd, '', ''} end\n"
"  local len0 = lens(types, argv[6])\n"
"  local r = redis.call('HMGET', pkey, 'sysid', 'timeline', 'db', 'slot', 'lsn',\n"
"                       'txn_end', 'txn_xid', 'txn_commit_time', 'txn_source', 'txn_options')\n"
"  local rec, at, dirty = src, nil, false\n"
"  if not r[5] then\n"
"    if mode == '' then return {0, 'NORECORD', '', '', '', '', '', '', '', '', ''} end\n"
"    at, dirty = items[1].prev, true\n"
"  else\n"
"    at = lsnhex(r[5])\n"
"    if not at or r[1] ~= src[1] or r[2] ~= src[2] or r[3] ~= src[3] or r[4] ~= src[4] then\n"
"      if mode ~= 'replace' and mode ~= 'renew' then\n"
"        return {0, 'SOURCE', r[5] or '', r[1] or '', r[2] or '', r[3] or '', r[4] or '', '', '', '', ''}\n"
"      end\n"
"      if mode == 'renew' and (r[1] ~= src[1] or r[2] ~= src[2]) then\n"
"        return {0, 'TAKEOVER', r[5] or '', r[1] or '', r[2] or '', r[3] or '', r[4] or '', '', '', '', ''}\n"
"      end\n"
"      if at and r[1] == src[1] and at > items[1].prev then\n"
"        return {0, 'AHEAD', r[5], r[1], r[2], r[3], r[4], '', '', '', ''}\n"
"      end\n"
"      at, dirty = items[1].prev, true\n"
"    elseif mode == 'create' and at < items[1].prev then\n"
"      return {0, 'NEWSLOT', r[5], r[1], r[2], r[3], r[4], lsntext(items[1].prev), '', '', ''}\n"
"    elseif (mode == 'replace' or mode == 'renew') and at < items[1].prev then\n"
"      at, dirty = items[1].prev, true\n"
"    end\n"
"  end\n"
"  local tend, txid, ttime = lasttxn(r, src, dirty)\n"
"  local rtend = tend\n"
"  local done, verdict, last, newtxn = 0, 'OK', nil, nil\n"
"  for i, it in ipairs(items) do\n"
"    if tend and it.prev < tend and it.stop >= tend then\n"
"      if it.stop ~= tend or it.xid ~= txid or it.ctime ~= ttime then\n"
"        return {done, 'HISTORY', r[5], r[1], r[2], r[3], r[4], r[6], txid, '', ttime, r[10] or ''}\n"
"      end\n"
"      tend = nil\n"
"    end\n"
"    if it.stop <= at and not unseen(it, rtend) then\n"
"      if it.stage ~= '' then redis.call('DEL', it.stage) end\n"
"    elseif it.prev <= at then\n"
"      if not write(it, argv, hdr, types, ents) then verdict = 'STAGEGAP'; break end\n"
"      at = it.stop\n"
"      if it.xid ~= '' then newtxn = it end\n"
"    else\n"
"      verdict = 'GAP'; break\n"
"    end\n"
"    done, last = i, it.stop\n"
"  end\n"
"  trim(len0, argv[6])\n"
"  local attext = lsntext(at)\n"
"  if done > 0 or dirty then\n"
"    local t = redis.call('TIME')\n"
"    redis.call('HSET', pkey, 'sysid', rec[1], 'timeline', rec[2], 'db', rec[3],\n"
"               'slot', rec[4], 'lsn', attext, 'lsn_options', argv[12] or '',\n"
"               'updated_at', t[1] .. '.' .. string.format('%06d', tonumber(t[2])))\n"
"    if newtxn then\n"
"      redis.call('HSET', pkey, 'txn_end', lsntext(newtxn.stop), 'txn_xid', newtxn.xid,\n"
"                 'txn_commit_time', newtxn.ctime, 'txn_source', rec[1] .. '/' .. rec[2],\n"
"                 'txn_options', argv[12] or '')\n"
"    elseif dirty and r[6] then\n"
"      redis.call('HDEL', pkey, 'txn_end', 'txn_xid', 'txn_commit_time', 'txn_source', 'txn_options')\n"
"    end\n"
"  end\n"
"  local unverified = ''\n"
"  if tend and last and last < tend then unverified = lsntext(tend) end\n"
"  return {done, verdict, attext, rec[1], rec[2], rec[3], rec[4], '', '', unverified, ''}\n"
"end\n"
"redis.register_function{function_name = '" REDIS_FN_DELIVER "', callback = deliver, flags = {'no-cluster'}}\n";

/* element i of an array reply as text ("" if it is not text) */
const char *
redis_reply_str(const redisReply *r, size_t i)
{
	if (i >= r->elements || r->element[i]->str == NULL ||
		r->element[i]->type == REDIS_REPLY_INTEGER)
		return "";
	return r->element[i]->str;
}

/* an error reply to one of our calls */
static int
call_error(Sink *s, const char *what, const redisReply *r)
{
	int			rc = redis_error_rc(r->str);

	if (rc == SINK_RETRY)
		return errbuf_set(s->err, SINK_ERRLEN, rc,
						  "Redis refused %s for now: %s", what, r->str);
	return errbuf_set(s->err, SINK_ERRLEN, rc, "Redis %s failed: %s",
					  what, r->str);
}

/* acknowledge one item */
static void
ack_item(RedisSink *rs, const RItem *it)
{
	if (it->kind == RITEM_TXN)
		rs->ack(rs->ack_arg, it->ticket, it->njobs);
	else if (it->kind == RITEM_PROGRESS)
		rs->ack(rs->ack_arg, it->ticket, 1);
}

/*
 * Acknowledge the first call->done items.  Items the record said were
 * delivered before the session showed the record's last transaction
 * (call->unverified) wait in rs->deferred: a replay of another history
 * would otherwise confirm its own jobs as delivered.  The first verified
 * call acknowledges them, in order, before its own.
 */
static int
ack_done(Sink *s, const RCall *call)
{
	RedisSink  *rs = s->priv;

	if (rs->ack == NULL || call->stale)
		return SINK_OK;
	if (call->unverified)
	{
		uint32_t	n = call->done < call->nitems ? call->done : call->nitems;

		if (rs->ndeferred + n > rs->deferred_cap)
		{
			uint32_t	ncap = rs->deferred_cap ? rs->deferred_cap : 64;
			RItem	   *d;

			while (ncap < rs->ndeferred + n)
				ncap *= 2;
			if ((d = realloc(rs->deferred, ncap * sizeof(RItem))) == NULL)
				return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
			rs->deferred = d;
			rs->deferred_cap = ncap;
		}
		memcpy(rs->deferred + rs->ndeferred, call->items, n * sizeof(RItem));
		for (uint32_t i = 0; i < n; i++)
			rs->deferred[rs->ndeferred + i].stage = NULL;	/* the call's */
		rs->ndeferred += n;
		return SINK_OK;
	}
	for (uint32_t i = 0; i < rs->ndeferred; i++)
		ack_item(rs, &rs->deferred[i]);
	rs->ndeferred = 0;
	for (uint32_t i = 0; i < call->done && i < call->nitems; i++)
		ack_item(rs, &call->items[i]);
	return SINK_OK;
}

/*
 * --create-slot made a new slot although the record shows this source's
 * slot of that name delivered up to an earlier position: the slot was
 * dropped, and what was committed in between is in no slot.
 */
static int
verdict_newslot(Sink *s, const redisReply *r)
{
	RedisSink  *rs = s->priv;

	s->new_slot_refused = true;
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" shows slot \"%s\" of this system delivered up to %s, but "
					  "the slot was gone and %s created it at %s: jobs committed in between are in no "
					  "slot (it was dropped); to re-deliver what the tables hold start once with --create-slot "
					  "--backfill --backfill-again=LABEL, to accept the gap with --create-slot --accept-new-source",
					  rs->progress_key, rs->src.slot, redis_reply_str(r, 2),
					  (rs->flags & SINK_REPLAY_RECLAIMED) ? "an earlier run with --create-slot, stopped "
					  "before it delivered anything," : "this run", redis_reply_str(r, 7));
}

static int
verdict_gap(Sink *s, const RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	const RItem *it = &call->items[call->done < call->nitems ? call->done : 0];
	char		want[LSN_STRLEN];

	lsn_format(it->prev, want, sizeof(want));
	if (rs->refused)			/* the chain after a refused call */
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "Redis refused a call that follows a refused one; replaying from %s",
						  want);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" is at %s, behind the position %s that slot \"%s\" has confirmed: Redis lost writes it had acknowledged (no persistence, a restart without appendfsync always, a restored backup or a failover to a lagging replica); configure appendonly yes with appendfsync always, or replicas with --redis-wait; start with --accept-new-source to continue from the slot knowingly",
					  rs->progress_key, redis_reply_str(r, 2), want, rs->src.slot);
}

/*
 * The session's first call refused a slot this run created (the record's
 * source check): it delivered nothing, so the bridge drops it again
 * (bridge.c), and the documented recovery can create it with a backfill.
 */
static void
refused_new_slot(Sink *s, const RCall *call)
{
	RedisSink  *rs = s->priv;

	s->new_slot_refused = call->first && (rs->flags & SINK_REPLAY_NEW_SLOT) != 0;
}

static int
verdict_source(Sink *s, const RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;

	refused_new_slot(s, call);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" belongs to another source (system identifier %s, timeline %s, database \"%s\", slot \"%s\", at %s), this bridge streams system identifier %s, timeline %" PRIu32 ", database \"%s\", slot \"%s\"; "
					  SINK_FAILOVER_HINT,
					  rs->progress_key, redis_reply_str(r, 3), redis_reply_str(r, 4),
					  redis_reply_str(r, 5), redis_reply_str(r, 6), redis_reply_str(r, 2),
					  rs->src.sysid, rs->src.timeline, rs->src.dbname,
					  rs->src.slot);
}

/* --accept-new-source on a slot this run created, without --backfill */
static int
verdict_takeover(Sink *s, const RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;

	refused_new_slot(s, call);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" belongs to system identifier %s, timeline %s (at %s), "
					  "and this run created slot \"%s\" on system identifier %s, timeline %" PRIu32 ": the "
					  "new slot starts past every job the old one had not delivered, and "
					  "--accept-new-source without --backfill would lose them silently; "
					  SINK_FAILOVER_HINT "; to accept that loss knowingly delete the record (DEL %s) first",
					  rs->progress_key, redis_reply_str(r, 3), redis_reply_str(r, 4),
					  redis_reply_str(r, 2), rs->src.slot, rs->src.sysid, rs->src.timeline,
					  rs->progress_key);
}

/* replacing a record of this system that is past where this slot begins */
static int
verdict_ahead(Sink *s, const RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	char		at[LSN_STRLEN];

	lsn_format(call->items[0].prev, at, sizeof(at));
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" is at %s (timeline %s, slot \"%s\"), past where this slot begins "
					  "on the same system (%s, slot \"%s\", timeline %" PRIu32 "): this server lacks WAL that the old one committed "
					  "and Redis holds (a promoted standby that lagged, a restored copy), so jobs it commits now "
					  "would be taken for delivered ones; once you decided what to re-send, delete the record (DEL) "
					  "and start with --accept-new-source",
					  rs->progress_key, redis_reply_str(r, 2), redis_reply_str(r, 4), redis_reply_str(r, 6),
					  at, rs->src.slot, rs->src.timeline);
}

static int
verdict_norecord(Sink *s, const RCall *call)
{
	RedisSink  *rs = s->priv;
	char		at[LSN_STRLEN];

	lsn_format(call->items[0].prev, at, sizeof(at));
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis holds no progress record \"%s\" but slot \"%s\" has confirmed positions up to %s: Redis lost its data, or the slot was used by a wal2queue that kept no record; start with --accept-new-source to continue from the slot's position (what Redis lost is not sent again)",
					  rs->progress_key, rs->src.slot, at);
}

/*
 * OK: the session's first answer also says whether the record was already
 * past the server's WAL (past the end of this call's last item too: the
 * call may have written transactions the session read since)
 */
static int
verdict_ok(Sink *s, RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	uint64_t	rec;

	if (!rs->wal_end_checked)
	{
		rs->wal_end_checked = true;
		if (rs->src.wal_end && call->nitems > 0 &&
			lsn_parse(redis_reply_str(r, 2), strlen(redis_reply_str(r, 2)), &rec) &&
			rec > rs->src.wal_end && rec > call->items[call->nitems - 1].end)
		{
			char		w[LSN_STRLEN];

			return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
							  "Redis progress record \"%s\" is at %s, past the server's WAL end %s: "
							  "the server was rolled back (restored from a copy without a new "
							  "timeline?), so jobs it commits now would be taken for delivered ones; "
							  "once you decided what to re-send, delete the record (DEL) and start "
							  "with --accept-new-source",
							  rs->progress_key, redis_reply_str(r, 2),
							  lsn_format(rs->src.wal_end, w, sizeof(w)));
		}
	}
	if (call->replies_due == 1)
		return ack_done(s, call);	/* no WAIT to come */
	return SINK_OK;
}

/* FULL, NOPERM, WRONGTYPE: nothing of the call was written; fatal */
static int
verdict_refused(Sink *s, const char *verdict, const redisReply *r)
{
	if (strcmp(verdict, "FULL") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "cannot write job %s of the transaction committed at %s to Redis stream \"%s\": "
						  "its last entry ID is at the largest possible one and no further entry can be "
						  "added (nothing of the call was written); trim or delete the stream, or change "
						  "the job's target",
						  *redis_reply_str(r, 8) ? redis_reply_str(r, 8) : "(staged)", redis_reply_str(r, 2), redis_reply_str(r, 7));
	if (strcmp(verdict, "NOPERM") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "the bridge's Redis user may not run %s%s%s%s (ACL): nothing of the call was "
						  "written; grant the user the commands and, on every stream the jobs route to and "
						  "on wal2queue's keys, read and write (docs/redis.md, \"The Redis user\"), or "
						  "change the job's target", redis_reply_str(r, 8), *redis_reply_str(r, 7) ? " on key \"" : "",
						  redis_reply_str(r, 7), *redis_reply_str(r, 7) ? "\"" : "");
	if (strcmp(verdict, "WRONGTYPE") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis key \"%s\" holds a %s, not a stream; wal2queue writes only to streams (and a hash for its progress record)",
						  redis_reply_str(r, 7), redis_reply_str(r, 8));
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "unexpected verdict from Redis function %s: %s",
					  REDIS_FN_DELIVER, verdict);
}

/* the reply of a deliver call */
int
progress_on_deliver(Sink *s, RCall *call, const redisReply *r)
{
	const char *verdict;

	/* the items done deleted their staging lists, whatever the verdict */
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer > 0)
		call->settled = (uint32_t) r->element[0]->integer;
	if (call->stale)
		return SINK_OK;
	if (r->type == REDIS_REPLY_ERROR)
		return call_error(s, REDIS_FN_DELIVER, r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 11 ||
		r->element[0]->type != REDIS_REPLY_INTEGER)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis function %s", REDIS_FN_DELIVER);
	call->done = (uint32_t) r->element[0]->integer;
	verdict = redis_reply_str(r, 1);
	call->unverified = *redis_reply_str(r, 9) != '\0';
	if (strcmp(verdict, "OK") == 0)
		return verdict_ok(s, call, r);
	if (strcmp(verdict, "HISTORY") == 0)
		return progress_verdict_history(s, call, r);
	if (strcmp(verdict, "NEWSLOT") == 0)
		return verdict_newslot(s, r);
	if (strcmp(verdict, "GAP") == 0)
		return verdict_gap(s, call, r);
	if (strcmp(verdict, "SOURCE") == 0)
		return verdict_source(s, call, r);
	if (strcmp(verdict, "TAKEOVER") == 0)
		return verdict_takeover(s, call, r);
	if (strcmp(verdict, "AHEAD") == 0)
		return verdict_ahead(s, call, r);
	if (strcmp(verdict, "NORECORD") == 0)
		return verdict_norecord(s, call);
	if (strcmp(verdict, "STAGEGAP") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "a staged transaction is incomplete in Redis (a staging call was refused); replaying");
	return verdict_refused(s, verdict, r);
}

/* the replies of a staging call: RPUSH (the list's new length), EXPIRE */
int
progress_on_stage(Sink *s, RCall *call, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return call_error(s, "RPUSH", r);
	if (call->replies_due == 1)
		return SINK_OK;			/* EXPIRE */
	if (r->type != REDIS_REPLY_INTEGER)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis to RPUSH");
	if ((uint64_t) r->integer != call->expect)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "a staging list holds %lld elements where %" PRIu64 " were expected (an earlier piece was refused); replaying",
						  r->integer, call->expect);
	return SINK_OK;
}

/* the WAIT after a deliver call */
int
progress_on_wait(Sink *s, RCall *call, const redisReply *r)
{
	const SinkConfig *cfg = s->cfg;

	if (call->stale)
		return SINK_OK;
	if (r->type == REDIS_REPLY_ERROR)
		return errbuf_set(s->err, SINK_ERRLEN, redis_error_rc(r->str),
						  "Redis WAIT failed: %s", r->str);
	if (r->type != REDIS_REPLY_INTEGER)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis to WAIT");
	if (r->integer < cfg->redis_wait_replicas)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "only %lld of the %d Redis replicas asked for by --redis-wait acknowledged the write within %d ms; not acknowledging it, replaying",
						  r->integer, cfg->redis_wait_replicas,
						  cfg->redis_wait_timeout_ms);
	return ack_done(s, call);
}
